"""The ``clinic`` command: a launcher that hands each sub-command to the package that owns it.

Commands are looked up by name in ``COMMANDS`` and imported only when used, so ``clinic server`` never
loads Qt and ``clinic triage`` never loads the server. Each owning module has a ``COMMANDS`` dict that
maps the command name to ``(add_arguments(parser), run(args) -> int)``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# command -> (owning module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("server_stub.commands", "run the central API (migrates the database first)"),
    "migrate": ("server_stub.commands", "bring a server database to the newest schema"),
    "seed-demo": ("server_stub.commands", "create the demo hospital data set if absent"),
    "seed-scale": ("server_stub.commands", "add the scale data set (20,000 drugs, 50,000 patients)"),
    "audit-verify": ("server_stub.commands", "check the audit log's keyed hash chain"),
    "device-wipe": (
        "server_stub.commands",
        "mark a retired or lost PC for a remote wipe at its next contact",
    ),
    "sync-compact": ("server_stub.commands", "purge voided rows and expire older sync cursors"),
    "import": ("server_stub.reference_commands", "import reference data (drugs, ICD-10 …) from CSV or xlsx"),
    "export": ("server_stub.reference_commands", "export reference data as CSV or xlsx, as import reads it"),
    "unlock-login": ("server_stub.commands", "clear an account's or a source address's login locks"),
    "desk-slots": (
        "server_stub.commands",
        "list the triage desks' ticket-number slots, or free a retired PC's",
    ),
    "hub-enrol": ("server_stub.commands", "enrol a clinic hub for a campus and print its credential once"),
    "hub-revoke": ("server_stub.commands", "revoke a clinic hub's credential at once"),
    "hubs": ("server_stub.commands", "list the clinic hubs: campus, last seen, last relay, revoked"),
    "hub": (
        "server_stub.hub.commands",
        "run a clinic hub on the clinic's LAN (clinic hub status: its state)",
    ),
    "sync-report": ("shared.sync.report", "export this PC's sync state for support"),
    "voicepack": ("shared.audio.cli", "build or check a voice pack"),
    "update": ("shared.update.cli", "check for, install or roll back a verified update of this app"),
    "config": ("shared.config_cli", "check or show this PC's site configuration (clinic config check)"),
    "local-data": ("shared.update.local_data", "back up, restore or show this PC's local databases"),
    "triage": ("triage_desk.main", "the triage desk: check-in, queue console (--kiosk: self check-in)"),
    "kiosk": ("triage_desk.main", "the self check-in kiosk (full screen, by appointment)"),
    "display": ("triage_desk.main", "the waiting-room display with voice calling"),
    "admin": ("shared.gui.admin.main", "the administration window: reference data, import, audit log, PCs"),
    "pharmacy": ("pharmacy_desk.main", "the pharmacy desk: review, dispensing, stock, printers"),
    "workstation": (
        "workstation.main",
        "the doctor's workstation: queue, consult, prescribing, signing, printing",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clinic", description="Clinic Suite command line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module_name)
        # Arguments are added lazily below, once the command is known.
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # A command's own --help is answered by its own parser below, once its arguments are loaded.
    head = argv[: next((i + 1 for i, a in enumerate(argv) if a in COMMANDS), len(argv))]
    known, _rest = parser.parse_known_args(head)
    add_arguments, run = importlib.import_module(known._module).COMMANDS[known.command]
    command_parser = argparse.ArgumentParser(
        prog=f"clinic {known.command}", description=COMMANDS[known.command][1]
    )
    command_parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    add_arguments(command_parser)
    rest = list(argv)
    rest.remove(known.command)
    args = command_parser.parse_args(rest)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return int(run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
