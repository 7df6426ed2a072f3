#!/usr/bin/env python3
"""Reference X-Twilio-Signature values from Twilio's own Python helper library.

tests/e2e/signature_oracle.rs checks our Rust implementation against this. Reads a
JSON array of cases on stdin:

    {"token": "...", "url": "...", "params": [["Name", "value"], ...],
     "validate": {"url": "...", "signature": "..."}}      # "validate" optional

and writes one JSON object per case to stdout, in order:

    {"signature": RequestValidator(token).compute_signature(url, params),
     "valid": RequestValidator(token).validate(validate.url, params, validate.signature)}
"""

import json
import sys

from twilio.request_validator import RequestValidator


class RepeatedParams(dict):
    """Name -> list of values, read through `getall` like Flask's MultiDict,
    which is how RequestValidator handles a name sent more than once."""

    def getall(self, name):
        return self[name]


def params_of(pairs):
    names = [name for name, _ in pairs]
    if len(set(names)) == len(names):
        # The plain-dict path, which is what most web frameworks hand over.
        return {name: value for name, value in pairs}
    params = RepeatedParams()
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def main():
    # Bytes in, ASCII out: independent of the locale's idea of stdin/stdout encoding.
    cases = json.loads(sys.stdin.buffer.read())
    results = []
    for case in cases:
        validator = RequestValidator(case["token"])
        params = params_of(case["params"])
        result = {"signature": validator.compute_signature(case["url"], params)}
        check = case.get("validate")
        if check is not None:
            result["valid"] = validator.validate(check["url"], params, check["signature"])
        results.append(result)
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
