#!/usr/bin/env python3
"""A real S3-compatible server for trove's object-storage tests: moto's server mode (PyPI
`moto[server]`, installed by scripts/setup-peers into .peers/s3-venv), a separate process that
speaks the S3 REST API (SigV4 auth, ranged and conditional GETs, multipart uploads, ETags).

Usage
  s3_peer.py [--port 0] [--bucket NAME ...] [--put BUCKET/KEY=FILE ...]
  s3_peer.py --endpoint URL --get BUCKET/KEY=FILE      (download one object and exit)
  s3_peer.py --endpoint URL --list BUCKET              (print `KEY SIZE` lines and exit)

Listens on 127.0.0.1 (port 0 picks a free one), creates the buckets given, uploads the files
given (with boto3, not trove), prints
`LISTENING http://127.0.0.1:PORT` on stdout, and serves until it is killed.
Any access key and secret are accepted.
"""
import argparse
import sys
import time

import boto3
from moto.server import ThreadedMotoServer


def client(url: str):
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bucket", action="append", default=[])
    parser.add_argument("--put", action="append", default=[])
    parser.add_argument("--endpoint")
    parser.add_argument("--get")
    parser.add_argument("--list")
    args = parser.parse_args()
    if args.endpoint:
        s3 = client(args.endpoint)
        if args.get:
            target, dest = args.get.split("=", 1)
            bucket, key = target.split("/", 1)
            s3.download_file(bucket, key, dest)
        if args.list:
            for obj in s3.list_objects_v2(Bucket=args.list).get("Contents", []):
                print(obj["Key"], obj["Size"])
        return 0
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = client(url)
    for bucket in args.bucket:
        s3.create_bucket(Bucket=bucket)
    for put in args.put:
        target, path = put.split("=", 1)
        bucket, key = target.split("/", 1)
        s3.upload_file(path, bucket, key)
    print(f"LISTENING {url}", flush=True)
    try:
        # Serve until killed (the tests kill the process when they are done).
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
