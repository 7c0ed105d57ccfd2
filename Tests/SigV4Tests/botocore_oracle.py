"""Signs requests with botocore, the AWS SDK for Python, as the oracle for SigV4Tests.

Reads a JSON list of requests on stdin and prints, for each, the Authorization header (or the
presigned URL's X-Amz-Signature) botocore computes for it at the given time.
"""
import datetime
import json
import sys
from unittest import mock

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(case):
    creds = Credentials(case["accessKeyID"], case["secretAccessKey"], case.get("sessionToken"))
    when = datetime.datetime.fromtimestamp(case["epoch"], datetime.timezone.utc).replace(tzinfo=None)
    # botocore does not normalize or encode S3 paths, so S3 cases arrive encoded as sent.
    url = "http://" + case["host"] + case["urlPath"]
    if case["presign"]:
        if case["query"]:
            url += "?" + case["encodedQuery"]
        request = AWSRequest(method=case["method"], url=url)
        auth = S3SigV4QueryAuth(creds, case["service"], case["region"], expires=case["expires"])
    else:
        request = AWSRequest(method=case["method"], url=url, headers=dict(case["headers"]),
                             data=case["body"].encode(), params=[tuple(p) for p in case["query"]])
        cls = S3SigV4Auth if case["service"] == "s3" else SigV4Auth
        auth = cls(creds, case["service"], case["region"])
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        auth.add_auth(request)
    if case["presign"]:
        return request.url.rsplit("X-Amz-Signature=", 1)[1]
    return request.headers["Authorization"]


print(json.dumps([sign(case) for case in json.load(sys.stdin)]))
