"""``%cluster`` and ``%ptrain``: thin front ends over :mod:`workbench.parallel`.

ipyparallel and scikit-learn are imported when a magic first runs, not when the
extension loads.
"""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from workbench.magics.base import WorkbenchMagics


@magics_class
class ParallelMagics(WorkbenchMagics):
    """Cluster lifecycle and parallel model search."""

    @magic_arguments()
    @argument("action", choices=["start", "connect", "status", "stop"], help="what to do")
    @argument("extra", nargs="?", help=argparse.SUPPRESS)  # "%cluster start 2": told to use -n
    @argument("-n", "--engines", type=int, help="start: number of engines (default: one per core)")
    @argument("--profile", help="connect: the ipyparallel profile name of a running cluster")
    @argument("--profile-dir", help="start or connect: the profile folder")
    @argument("--launcher", help="start: ipyparallel's engine launcher (ssh, mpi, slurm, pbs, lsf, ...), "
              "configured by the profile's ipcluster_config.py")
    @argument("--controller-ip", help="start: the address the controller listens on (default 127.0.0.1); "
              "engines on other hosts need one they reach")
    @argument("--file", help="connect: the cluster's client connection file (ipcontroller-client.json)")
    @line_magic
    def cluster(self, line: str) -> None:
        """Start, connect to, inspect or stop the cluster that %ptrain and wb.parallel use.

        ``%cluster start [-n N]`` starts a controller and N engines on this machine; they
        stop with ``%cluster stop``, when the kernel exits, or when it is killed. Run again
        while the cluster runs, it says so and keeps it (a different ``-n`` is refused: stop
        it first). ``%cluster start --launcher ssh --controller-ip 0.0.0.0 --profile-dir
        DIR`` starts engines on other hosts with ipyparallel's launcher (hosts and options in
        DIR's ipcluster_config.py). ``%cluster connect --profile NAME`` (or ``--file
        ipcontroller-client.json``) uses a cluster started elsewhere, for example with
        ``ipcluster start --engines=slurm``. ``%cluster status`` shows the engines of each
        host, with their queue and memory.
        """
        args = parse_argstring(self.cluster, line)
        if args.extra is not None:
            if args.action == "start" and args.extra.isdigit():
                raise UsageError(f"give the number of engines with -n: %cluster start -n {args.extra}")
            raise UsageError(f"%cluster {args.action} takes no {args.extra!r}; see %cluster? for the options")
        if args.engines is not None and args.engines < 1:
            raise UsageError(f"-n must be at least 1, not {args.engines}")
        from workbench import parallel

        current = parallel.active_cluster()
        if args.action in ("start", "connect") and current is not None:
            engines = len(current.engine_ids)
            if args.action == "start" and args.engines in (None, engines):
                print(f"a cluster with {engines} engines is already running; %cluster stop stops it")
                return
            raise UsageError(f"a cluster with {engines} engines is already running: %cluster stop it first")
        if args.action == "start":
            started = parallel.Cluster.start(
                args.engines, profile_dir=args.profile_dir, launcher=args.launcher, controller_ip=args.controller_ip
            )
            print(f"cluster started with {len(started.engine_ids)} engines")
        elif args.action == "connect":
            connected = parallel.Cluster.connect(
                profile=args.profile, profile_dir=args.profile_dir, connection_file=args.file
            )
            print(f"connected to a cluster with {len(connected.engine_ids)} engines")
        elif args.action == "status":
            if current is None:
                raise UsageError("no cluster is running: start one with %cluster start -n N")
            display(current.status())
        elif current is None:
            print("no cluster is running")
        else:
            current.stop()
            print("cluster stopped")

    @magic_arguments()
    @argument("estimator", help="variable holding the scikit-learn estimator")
    @argument("grid", help="variable holding the parameter grid (distributions with --n-iter)")
    @argument("X", help="variable holding the training data")
    @argument("y", help="variable holding the labels")
    @argument("--cv", type=int, default=5, help="number of folds (default 5)")
    @argument("--scoring", help="a scikit-learn scoring name, such as f1 or roc_auc")
    @argument("--n-iter", type=int, help="randomized search with this many candidates")
    @argument("--random-state", type=int, help="seed of the randomized search")
    @argument("--retries", type=int, default=1, help="resubmissions of a task whose engine died")
    @argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    @argument("-o", "--output", metavar="NAME", help="keep the fitted search object in variable NAME")
    @line_magic
    def ptrain(self, line: str) -> None:
        """Grid (or randomized) search on the cluster, started if none is running.

        ``%ptrain est grid X y --cv 5 --scoring f1 -o search`` runs
        ``wb.parallel.search(est, grid, X, y, cv=5, scoring="f1")`` and shows the best
        parameters and the top candidates; ``-o`` keeps the fitted search object.
        """
        args = parse_argstring(self.ptrain, line)
        if args.output is not None and not args.output.isidentifier():
            raise UsageError(f"-o needs a variable name, not {args.output!r}")
        if args.cv < 2:
            raise UsageError(f"--cv must be at least 2, not {args.cv}")
        estimator, grid, X, y = (self.lookup(n) for n in (args.estimator, args.grid, args.X, args.y))
        from workbench import parallel

        if parallel.active_cluster() is None:
            started = parallel.Cluster.start()
            print(f"cluster started with {len(started.engine_ids)} engines")
        fitted = parallel.search(
            estimator,
            grid,
            X,
            y,
            cv=args.cv,
            scoring=args.scoring,
            n_iter=args.n_iter,
            random_state=args.random_state,
            retries=args.retries,
            progress=not args.no_progress,
        )
        if args.output is not None:
            assert self.shell is not None
            self.user_ns[args.output] = fitted
        display(parallel.SearchSummary.of(fitted))


__all__ = ["ParallelMagics"]
