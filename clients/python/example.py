"""Streams one generation from a stepwise server to the terminal with the Python client (stepwise_client.py).

    PYTHONPATH=build/python python3 clients/python/example.py --server 127.0.0.1:50051 \\
        --chat 'What is 7*8?'
    ... --prompt 'Once upon a time' --max-tokens 64 --temperature 0.7
    ... --prompt-ids 151644,872,198 --max-tokens 16

A chat's reasoning is printed under "[thinking]" and its answer under "[answer]", chunk by chunk as they arrive; a
--prompt-ids request also prints the new token ids. The usage comes last. --token-file reads the server's bearer
token from a file's first line (as `stepwise serve --auth-token-file` does).
"""

import argparse
import sys

import grpc

from stepwise_client import StepwiseClient  # beside this script, which Python puts first on sys.path


def token_ids(text):
    """"1,2,3" -> [1, 2, 3], for argparse."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated token ids, e.g. 1,2,3, got %r" % text) from None


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051", help="host:port of `stepwise serve`")
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--chat", help="a user message, rendered with the model's chat template")
    inputs.add_argument("--prompt", help="raw text to continue")
    inputs.add_argument("--prompt-ids", type=token_ids, help="comma-separated token ids to continue, e.g. 1,2,3")
    parser.add_argument("--max-tokens", type=int, default=256, help="new tokens at most")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    parser.add_argument("--token-file", help="file whose first line is the server's bearer token")
    return parser.parse_args()


def read_token(path):
    with open(path, encoding="utf-8") as f:
        return f.readline().strip()


def main():
    args = parse_args()
    token = read_token(args.token_file) if args.token_file else None
    request = {"max_tokens": args.max_tokens, "temperature": args.temperature}
    if args.chat is not None:
        request["messages"] = [{"role": "user", "content": args.chat}]
    elif args.prompt is not None:
        request["prompt"] = args.prompt
    else:
        request["prompt_ids"] = args.prompt_ids

    section = None  # "thinking" or "answer": what the terminal shows now
    token_ids = []
    last = None
    with StepwiseClient(args.server, token=token) as client:
        try:
            for response in client.generate(**request):
                for name, text in (("thinking", response.reasoning_text), ("answer", response.text)):
                    if not text:
                        continue
                    if section != name:
                        print(("\n" if section else "") + "[" + name + "]")
                        section = name
                    print(text, end="", flush=True)
                token_ids.extend(response.token_ids)
                if response.finish_reason:
                    last = response
        except grpc.RpcError as e:
            print("\nerror: %s: %s" % (e.code().name, e.details()), file=sys.stderr)
            return 1
    if section:
        print()
    if args.prompt_ids is not None:
        print("token ids:", token_ids)
    print(
        "usage: %d prompt tokens, %d completion tokens (finish: %s)"
        % (last.usage.prompt_tokens, last.usage.completion_tokens, last.finish_reason)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
