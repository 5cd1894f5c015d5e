#!/usr/bin/env escript
%% -*- erlang -*-
%%! +S 1 +sbwt none +sbwtdcpu none +sbwtdio none
%%
%% The Erlang/OTP side of `npm run bench:otp`: the cases of bench/cases.ts written with OTP's own supervisor,
%% one sample at a time, in one warm VM that bench/otp.ts starts and keeps for the whole run.
%%
%%   escript bench/otp/otp_bench.escript serve             a sample per line read: "start_static 100000"
%%   escript bench/otp/otp_bench.escript start_static 1000 one sample, printed
%%
%% Each answer is one line: "ok " and a JSON number (or an array of latencies), or "error " and the reason.
%% One scheduler, as Arbor has one JavaScript thread; no busy waiting when idle, so that the VM takes no CPU
%% from Node while Arbor's samples run. Logging is off, as in Arbor's bench (a crash report per restart would
%% cost more than the restart). docs/performance.md says what each case does on each side.
-module(otp_bench).
-mode(compile).
-behaviour(supervisor).

-export([main/1, init/1]).
-export([idle_start/0, idle_init/0, task_start/0, task_init/0, crashy_start/1, crashy_init/1]).

main(["serve"]) ->
    quiet(),
    serve();
main([Case | Args]) ->
    quiet(),
    io:format("~s~n", [answer(Case, Args)]);
main([]) ->
    io:format(standard_error, "usage: otp_bench.escript serve | CASE ARG...~n", []),
    halt(2).

quiet() ->
    ok = logger:set_primary_config(level, none).

serve() ->
    case io:get_line("") of
        eof ->
            ok;
        Line ->
            [Case | Args] = string:lexemes(string:trim(Line), " "),
            io:format("~s~n", [answer(Case, Args)]),
            serve()
    end.

%% What runs the samples, for the bench's header and its JSON.
answer("vm", []) ->
    Flavour = erlang:system_info(emu_flavor),
    Schedulers = erlang:system_info(schedulers_online),
    ["ok ", io_lib:format("\"OTP ~s (erts ~s, ~s), ~b scheduler~s\"",
        [erlang:system_info(otp_release), erlang:system_info(version), Flavour, Schedulers, [$s || Schedulers > 1]])];
%% Runs a sample in a process of its own (it traps exits to stop its supervisors), after a collection of every
%% process, as Arbor's samples run after a GC.
answer(Case, Args) ->
    Numbers = [list_to_integer(Arg) || Arg <- Args],
    collect(),
    {Pid, Ref} = spawn_monitor(fun() ->
        process_flag(trap_exit, true),
        exit({done, sample(Case, Numbers)})
    end),
    receive
        {'DOWN', Ref, process, Pid, {done, Value}} -> ["ok ", json(Value)];
        {'DOWN', Ref, process, Pid, Reason} -> io_lib:format("error ~0tp", [Reason])
    end.

json(Values) when is_list(Values) -> ["[", lists:join(",", [json(V) || V <- Values]), "]"];
json(Value) -> io_lib:format("~w", [float(Value)]).

collect() ->
    lists:foreach(fun erlang:garbage_collect/1, erlang:processes()).

now_us() -> erlang:monotonic_time(nanosecond) / 1000.

%% --- The cases ---

%% Start: a static supervisor of N idle children, from start_link until it returns (all started), µs per child.
sample("start_static", [N]) ->
    Start = now_us(),
    {ok, Sup} = supervisor:start_link(?MODULE, {static, N}),
    Elapsed = now_us() - Start,
    stop(Sup),
    Elapsed / N;
%% Start: N start_child calls into a running simple_one_for_one supervisor, µs per child.
sample("start_pool", [N]) ->
    {ok, Sup} = supervisor:start_link(?MODULE, {pool, idle_start}),
    Start = now_us(),
    start_children(Sup, N),
    Elapsed = now_us() - Start,
    stop(Sup),
    Elapsed / N;
%% Memory: what the processes hold (erlang:memory(processes_used)) more with a static supervisor of N idle
%% children than before it started, after collecting every process, bytes per child.
sample("memory", [N]) ->
    Before = erlang:memory(processes_used),
    {ok, Sup} = supervisor:start_link(?MODULE, {static, N}),
    collect(),
    Bytes = (erlang:memory(processes_used) - Before) / N,
    stop(Sup),
    Bytes;
%% Restart latency: Supervisors one_for_one supervisors in turn, each with Siblings idle children and a worker
%% crashed Crashes times; µs from the crash message sent to the new worker's first instruction, every crash.
sample("restart", [Supervisors, Crashes, Siblings]) ->
    lists:append([crashes(Crashes, Siblings) || _ <- lists:seq(1, Supervisors)]);
%% Shutdown: a simple_one_for_one supervisor of N idle children (they stop when asked) stopped by its parent,
%% until it has ended, ms.
sample("shutdown", [N]) ->
    {ok, Sup} = supervisor:start_link(?MODULE, {pool, idle_start}),
    start_children(Sup, N),
    collect(),
    Start = now_us(),
    stop(Sup),
    (now_us() - Start) / 1000;
%% Churn: N short tasks through a simple_one_for_one supervisor (temporary children that end at once), each
%% monitored, until every one has ended; tasks per second.
sample("churn", [N]) ->
    {ok, Sup} = supervisor:start_link(?MODULE, {pool, task_start}),
    Start = now_us(),
    lists:foreach(fun(_) ->
        {ok, Pid} = supervisor:start_child(Sup, []),
        erlang:monitor(process, Pid)
    end, lists:seq(1, N)),
    await_down(N),
    Elapsed = now_us() - Start,
    stop(Sup),
    N / (Elapsed / 1.0e6).

start_children(Sup, N) ->
    lists:foreach(fun(_) -> {ok, _} = supervisor:start_child(Sup, []) end, lists:seq(1, N)).

await_down(0) -> ok;
await_down(N) -> receive {'DOWN', _, process, _, _} -> await_down(N - 1) end.

crashes(Crashes, Siblings) ->
    {ok, Sup} = supervisor:start_link(?MODULE, {restart, Siblings, Crashes, self()}),
    Latencies = receive {started, Pid, _} -> crash(Pid, Crashes, []) end,
    stop(Sup),
    Latencies.

crash(_, 0, Latencies) ->
    Latencies;
crash(Pid, Left, Latencies) ->
    CrashedAt = now_us(),
    Pid ! crash,
    receive {started, Next, FirstInstruction} -> crash(Next, Left - 1, [FirstInstruction - CrashedAt | Latencies]) end.

%% Its parent stops a supervisor (settle, then kill after each child's budget) and waits for its end.
stop(Sup) ->
    exit(Sup, shutdown),
    receive {'EXIT', Sup, _} -> ok end.

%% --- The supervisors ---

init({static, N}) ->
    {ok, {#{strategy => one_for_one}, idle_specs(N)}};
init({pool, Start}) ->
    {ok, {#{strategy => simple_one_for_one}, [#{id => child, start => {?MODULE, Start, []}, restart => temporary}]}};
init({restart, Siblings, Crashes, Driver}) ->
    Crashy = #{id => crashy, start => {?MODULE, crashy_start, [Driver]}, shutdown => brutal_kill},
    {ok, {#{strategy => one_for_one, intensity => Crashes + 1, period => 3600}, idle_specs(Siblings) ++ [Crashy]}}.

%% Permanent workers with a shutdown budget of 5 seconds (the defaults, as Arbor's).
idle_specs(N) ->
    [#{id => I, start => {?MODULE, idle_start, []}} || I <- lists:seq(1, N)].

%% --- The children ---

%% Idle until its supervisor asks it to stop, then stops: it traps exits, so that the request reaches its code.
idle_start() -> proc_lib:start_link(?MODULE, idle_init, []).

idle_init() ->
    process_flag(trap_exit, true),
    proc_lib:init_ack({ok, self()}),
    receive {'EXIT', _, Reason} -> exit(Reason) end.

%% A task with nothing to do: it has started, and ends.
task_start() -> proc_lib:start_link(?MODULE, task_init, []).

task_init() -> proc_lib:init_ack({ok, self()}).

%% Tells the driver when its first instruction ran, then crashes when told to.
crashy_start(Driver) -> proc_lib:start_link(?MODULE, crashy_init, [Driver]).

crashy_init(Driver) ->
    FirstInstruction = now_us(),
    proc_lib:init_ack({ok, self()}),
    Driver ! {started, self(), FirstInstruction},
    receive crash -> exit(crash) end.
