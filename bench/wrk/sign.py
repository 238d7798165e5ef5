"""Prints the SigV4 headers (one `Name: value` a line) that sign one ECS JSON request to ADDR
with the key in CREDENTIALS (profile berth), as botocore signs it. wrk replays them: within
the 15-minute window a replayed signature verifies, as at AWS.

usage: sign.py ADDR OPERATION BODY_FILE CREDENTIALS_FILE
"""
import configparser, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

addr, operation, body_file, credentials_file = sys.argv[1:5]
profile = configparser.ConfigParser()
profile.read(credentials_file)
key = profile["berth"]
request = AWSRequest(method="POST", url="http://%s/" % addr, data=open(body_file, "rb").read(), headers={
    "X-Amz-Target": "AmazonEC2ContainerServiceV20141113." + operation,
    "Content-Type": "application/x-amz-json-1.1"})
SigV4Auth(Credentials(key["aws_access_key_id"], key["aws_secret_access_key"]), "ecs", "us-east-1").add_auth(request)
for name in ("X-Amz-Date", "Authorization"):
    print("%s: %s" % (name, request.headers[name]))
