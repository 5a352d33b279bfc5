"""The `vid2mp3` command line: run, serve, worker, migrate, users, convert, submit, sample."""

from __future__ import annotations

import argparse
import getpass
import sys

from core.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SettingsError as error:
        print(f"vid2mp3: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        message = _known_failure(error)
        if message is None:
            raise
        print(f"vid2mp3: {message}", file=sys.stderr)
        return 1


def _known_failure(error: Exception) -> str | None:
    """Return one line for a failure of a backing service or setup, None for a bug."""
    # Only modules already imported can have raised: checking sys.modules keeps start-up lean.
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(error, sqlalchemy_exc.DBAPIError):
        from core.db import describe_error

        return describe_error(error, Settings.from_env().database_url)
    alembic_exc = sys.modules.get("alembic.util.exc")
    if alembic_exc is not None and isinstance(error, alembic_exc.CommandError):
        return f"migration failed: {error}"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vid2mp3", description="Turn uploaded videos into MP3s: service and tools."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="the embedded all-in-one service (no external servers)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.set_defaults(handler=_run)

    serve = commands.add_parser("serve", help="the web app under gunicorn (production)")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server in a container
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=None, help="default: WEB_CONCURRENCY or 2")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="the Dramatiq worker over the pipeline's actors")
    worker.add_argument("--queues", nargs="+", metavar="Q", help="default: all queues")
    worker.add_argument("--processes", type=int, default=None)
    worker.add_argument("--threads", type=int, default=None)
    worker.set_defaults(handler=_worker)

    migrate = commands.add_parser("migrate", help="alembic upgrade head for DATABASE_URL")
    migrate.set_defaults(handler=_migrate)

    users = commands.add_parser("users", help="manage accounts")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = user_commands.add_parser("create", help="create an account")
    create.add_argument("email")
    create.add_argument("--admin", action="store_true", help="may see every job")
    create.add_argument("--password-stdin", action="store_true", help="read the password")
    create.set_defaults(handler=_users_create)
    listing = user_commands.add_parser("list", help="list accounts")
    listing.set_defaults(handler=_users_list)
    disable = user_commands.add_parser("disable", help="stop an account from logging in")
    disable.add_argument("email")
    disable.set_defaults(handler=_users_disable)
    password = user_commands.add_parser("set-password", help="set an account's password")
    password.add_argument("email")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(handler=_users_set_password)

    from conversion import cli as conversion_cli

    convert = commands.add_parser("convert", help="convert local files, no services needed")
    conversion_cli.add_arguments(convert)
    convert.set_defaults(handler=conversion_cli.run)

    submit = commands.add_parser(
        "submit", help="upload a file to a server, wait, and download the MP3"
    )
    submit.add_argument("file")
    submit.add_argument("--url", default="http://localhost:8080")
    submit.add_argument(
        "--user", help="e-mail to log in with (password asked, or VID2MP3_PASSWORD)"
    )
    submit.add_argument(
        "--token", help="a personal access token instead of a login (or VID2MP3_TOKEN)"
    )
    submit.add_argument("-o", "--output", help="where to write the MP3 (default: next to FILE)")
    submit.add_argument(
        "--whole-file",
        action="store_true",
        help="upload the whole file (default: only its audio, copied with ffmpeg, when smaller)",
    )
    submit.set_defaults(handler=_submit)

    sample = commands.add_parser(
        "sample", help="write a short sample video (ffmpeg test pattern and tones) to try"
    )
    sample.add_argument("path", nargs="?", default="sample.mp4", help="default: sample.mp4")
    sample.add_argument("--seconds", type=float, default=10.0, help="length (default: 10)")
    sample.set_defaults(handler=_sample)
    return parser


def _run(args) -> int:
    from vid2mp3.embedded import run_embedded

    return run_embedded(Settings.from_env(), args.host, args.port)


def _serve(args) -> int:
    from vid2mp3.server import serve

    return serve(Settings.from_env(), args.host, args.port, args.workers)


def _worker(args) -> int:
    from actors.worker import run_worker

    run_worker(Settings.from_env(), args.queues, args.processes, args.threads)
    return 0  # not reached: run_worker replaces this process


def _migrate(args) -> int:
    from vid2mp3.migrate import upgrade_to_head

    upgrade_to_head(Settings.from_env().database_url)
    print("database is at the latest schema")
    return 0


def _with_session(action):
    from core.accounts import AccountError
    from core.db import make_engine, make_sessions, session_scope

    settings = Settings.from_env()
    engine = make_engine(settings.database_url, settings.database_timeout_seconds)
    try:
        with session_scope(make_sessions(engine)) as session:
            return action(session)
    except AccountError as error:
        print(f"vid2mp3: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("vid2mp3: the passwords differ")
    return first


def _users_create(args) -> int:
    from core.accounts import create_user

    password = _read_password(args.password_stdin)

    def create(session):
        user = create_user(session, args.email, password, is_admin=args.admin)
        print(f"created {'admin ' if user.is_admin else ''}{user.email}")
        return 0

    return _with_session(create)


def _users_list(args) -> int:
    from core.accounts import list_users

    def show(session):
        for user in list_users(session):
            flags = [
                f for f, on in (("admin", user.is_admin), ("disabled", not user.is_active)) if on
            ]
            print(f"{user.email}\t{','.join(flags) or '-'}\t{user.created_at:%Y-%m-%d}")
        return 0

    return _with_session(show)


def _users_disable(args) -> int:
    from core.accounts import disable_user

    def disable(session):
        disable_user(session, args.email)
        print(f"disabled {args.email}")
        return 0

    return _with_session(disable)


def _users_set_password(args) -> int:
    from core.accounts import set_password

    password = _read_password(args.password_stdin)

    def change(session):
        set_password(session, args.email, password)
        print(f"password changed for {args.email}")
        return 0

    return _with_session(change)


def _submit(args) -> int:
    from vid2mp3.client import submit

    return submit(args.file, args.url, args.user, args.output, args.token, args.whole_file)


def _sample(args) -> int:
    from conversion.sample import write_sample

    try:
        path = write_sample(args.path, args.seconds)
    except (ValueError, OSError) as error:
        print(f"vid2mp3: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({args.seconds:g} s); convert it on the Convert page or with:")
    print(f"  vid2mp3 submit {path} --user YOUR_EMAIL")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
