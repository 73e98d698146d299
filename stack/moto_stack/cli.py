"""Command line: create the stack, write the manifest, serve moto until told to stop."""

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from botocore.exceptions import BotoCoreError, ClientError
from moto.server import ThreadedMotoServer
from moto.utilities.docker_utilities import DockerModel

# Defines moto CloudFormation models: before any stack is created (see cfn_models).
from moto_stack import cfn_models, deploy, manifest, sam
from moto_stack.aws import Aws, StackError
from moto_stack.stack import Stack


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="moto_stack", description="Create template.yaml in an in-process moto."
    )
    parser.add_argument("--template", type=Path, required=True, help="the SAM template")
    parser.add_argument("--manifest", type=Path, required=True, help="where to write it")
    parser.add_argument("--stack-name", default="smsflow")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--port", type=int, default=0, help="moto's port (0: any free one)")
    parser.add_argument(
        "--parameter", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
        help="a CloudFormation parameter override (repeatable)",
    )
    parser.add_argument(
        "--mail-identity", action="append", default=[], metavar="IDENTITY",
        help="an SES identity (domain or address) to verify (repeatable)",
    )
    return parser.parse_args(argv)


def _key_value(text: str) -> tuple[str, str]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _no_docker(_model: DockerModel) -> None:
    """The runner runs the functions itself, and no Docker engine runs here. moto's
    `/moto-api/data.json` (the state dump, for whoever inspects the stack) reads every attribute of
    every model and skips those raising AttributeError; a Lambda model's Docker client
    would raise DockerException instead and fail the whole dump."""
    raise AttributeError("docker_client: the stack runner runs functions without Docker")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    # One line per request otherwise; moto's own warnings still reach stderr.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    cfn_models.check_registered()
    # SAM attaches AWS managed policies (AWSLambdaBasicExecutionRole...); moto knows them
    # only when asked to load them.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    DockerModel.docker_client = property(_no_docker)  # type: ignore[assignment]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        aws = Aws(endpoint=f"http://{host}:{port}", region=args.region)
        try:
            deploy_stack(aws, args)
        except (StackError, ClientError, BotoCoreError) as error:
            print(f"moto_stack: {error}", file=sys.stderr)
            return 1
        print(f"moto_stack: stack {args.stack_name} ready in {time.monotonic() - started:.1f} s",
              file=sys.stderr)
        print(f"moto_stack: ready {args.manifest} {aws.endpoint}", flush=True)
        wait_for_stop()
        return 0
    finally:
        server.stop()


def deploy_stack(aws: Aws, args: argparse.Namespace) -> None:
    parameters = dict(args.parameter)
    template = sam.read_template(args.template)
    deploy.check_parameters(template, parameters)
    expanded = sam.expand(template, parameters, aws)
    deploy.create_stack(aws, args.stack_name, expanded, parameters)
    stack = Stack(aws, args.stack_name)
    deploy.disable_event_source_mappings(aws, stack)
    deploy.verify_mail_identities(aws, args.mail_identity)
    manifest.write(manifest.build(aws, stack), args.manifest)


def wait_for_stop() -> None:
    """Returns on SIGTERM, SIGINT or EOF on stdin (the runner's lifeline)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_eof() -> None:
        # The raw descriptor: a thread blocked in sys.stdin's buffered reader holds its lock,
        # which aborts the interpreter's shutdown.
        while os.read(sys.stdin.fileno(), 4096):
            pass
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=on_eof, name="stdin-lifeline", daemon=True).start()
    stop.wait()
