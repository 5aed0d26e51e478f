#!/usr/bin/env python3
"""Confluent interop test: an independent Confluent-wire-format client (confluent_kafka's
AvroSerializer / AvroDeserializer and SchemaRegistryClient) against orderflow running on the
real services (Kafka, a Confluent-compatible schema registry, Redis).

  1. starts `bin/orderflow run --brokers ... --registry ... --redis ... --prefix <unique>.`
     and waits until its subjects are registered and its roles are running;
  2. fetches the OrderRequested schema orderflow registered ("<prefix>.requests-value", latest)
     and produces an order with AvroSerializer (use.latest.version, no auto-registration);
  3. consumes "<prefix>.status" with AvroDeserializer: that order must reach "placed";
  4. produces a record that is not Confluent-framed: it must land in "<prefix>.dlq" as a
     DeadLetter with the raw bytes, and an order sent after it must still be placed;
  5. stops orderflow with SIGTERM: it must exit 0.

Run by `make interop` (after scripts/services/up.sh), with the venv of scripts/services/pyenv.sh.
Reads ORDERFLOW_TEST_BROKERS / _REGISTRY / _REDIS (defaults: the ports of scripts/services), the
Kafka security of ORDERFLOW_TEST_KAFKA_TLS, ORDERFLOW_TEST_CA_FILE and ORDERFLOW_TEST_KAFKA_SASL_* (SASL_SSL), the
registry's basic auth ORDERFLOW_TEST_REGISTRY_USER / _PASSWORD, the CA of the services' certificates
ORDERFLOW_TEST_CA_FILE (https:// registry, rediss:// Redis) and ORDERFLOW_BIN (default bin/orderflow).
orderflow gets the passwords in files (--registry-password-file, --redis-password-file), never on
its command line. Prints `N passed, M failed` last; exits 1 on any failure.
Every wait has a deadline; the whole run takes well under two minutes.
"""

import base64
import faulthandler
import datetime
import json
import os
import signal
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

ROOT = Path(__file__).resolve().parent.parent
BROKERS = os.environ.get("ORDERFLOW_TEST_BROKERS") or "127.0.0.1:9092"
REGISTRY = (os.environ.get("ORDERFLOW_TEST_REGISTRY") or "http://127.0.0.1:8081/apis/ccompat/v7").rstrip("/")
REDIS = os.environ.get("ORDERFLOW_TEST_REDIS") or "redis://127.0.0.1:6379/0"
REGISTRY_USER = os.environ.get("ORDERFLOW_TEST_REGISTRY_USER") or ""
REGISTRY_PASSWORD = os.environ.get("ORDERFLOW_TEST_REGISTRY_PASSWORD") or ""
CA_FILE = os.environ.get("ORDERFLOW_TEST_CA_FILE") or ""
BIN = Path(os.environ.get("ORDERFLOW_BIN") or ROOT / "bin" / "orderflow")

# Kafka's security (scripts/services/env.sh: the SASL_SSL listener), as librdkafka settings for
# the Python clients and as ORDERFLOW_KAFKA_* variables for orderflow (not flags: no password in ps).
KAFKA_TLS = (os.environ.get("ORDERFLOW_TEST_KAFKA_TLS") or "").lower() in ("1", "true", "yes")
KAFKA_SASL_MECHANISM = os.environ.get("ORDERFLOW_TEST_KAFKA_SASL_MECHANISM") or ""
KAFKA_CONF = {}
ORDERFLOW_KAFKA_ENV = {}
if KAFKA_TLS or KAFKA_SASL_MECHANISM:
    KAFKA_CONF["security.protocol"] = ("SASL_SSL" if KAFKA_SASL_MECHANISM else "SSL") if KAFKA_TLS else "SASL_PLAINTEXT"
if KAFKA_TLS:
    ORDERFLOW_KAFKA_ENV["ORDERFLOW_KAFKA_TLS"] = "true"
    if os.environ.get("ORDERFLOW_TEST_CA_FILE"):
        KAFKA_CONF["ssl.ca.location"] = os.environ["ORDERFLOW_TEST_CA_FILE"]
        ORDERFLOW_KAFKA_ENV["ORDERFLOW_KAFKA_CA_FILE"] = os.environ["ORDERFLOW_TEST_CA_FILE"]
if KAFKA_SASL_MECHANISM:
    KAFKA_CONF.update({"sasl.mechanism": KAFKA_SASL_MECHANISM,
                       "sasl.username": os.environ.get("ORDERFLOW_TEST_KAFKA_SASL_USER", ""),
                       "sasl.password": os.environ.get("ORDERFLOW_TEST_KAFKA_SASL_PASSWORD", "")})
    ORDERFLOW_KAFKA_ENV.update({"ORDERFLOW_KAFKA_SASL_MECHANISM": KAFKA_SASL_MECHANISM,
                                "ORDERFLOW_KAFKA_SASL_USER": KAFKA_CONF["sasl.username"],
                                "ORDERFLOW_KAFKA_SASL_PASSWORD": KAFKA_CONF["sasl.password"]})

READY_TIMEOUT = 30  # orderflow: topics created, schemas registered, roles running
PLACED_TIMEOUT = 40  # an order from request to "placed" (sandbox placement takes ~0.3 s)
DLQ_TIMEOUT = 30
STOP_TIMEOUT = 20
OVERALL_TIMEOUT = 110  # hard stop for everything

RUN = f"interop{int(time.time())}{uuid.uuid4().hex[:6]}"
PREFIX = RUN + "."
REQUESTS, STATUS, DLQ = PREFIX + "requests", PREFIX + "status", PREFIX + "dlq"

START = time.monotonic()
results = []  # (name, ok, detail)


def log(msg):
    print(f"[interop +{time.monotonic() - START:5.1f}s] {msg}", flush=True)


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))
    print(f"{'PASS' if ok else 'FAIL'}: {name}{'' if ok or not detail else ' -- ' + detail}", flush=True)
    return bool(ok)


def remaining(limit):
    """Seconds to wait: limit, capped by the overall deadline."""
    return max(0.0, min(limit, OVERALL_TIMEOUT - (time.monotonic() - START)))


def redacted(u):
    """A URL without its password, for messages."""
    p = urllib.parse.urlsplit(u)
    if p.password is None:
        return u
    netloc = f"{p.username or ''}:xxxxx@{p.hostname}" + (f":{p.port}" if p.port else "")
    return urllib.parse.urlunsplit(p._replace(netloc=netloc))


def registry_conf():
    """SchemaRegistryClient settings: basic auth and the test CA when the registry has them."""
    conf = {"url": REGISTRY, "timeout": 10}
    if REGISTRY_USER:
        conf["basic.auth.user.info"] = f"{REGISTRY_USER}:{REGISTRY_PASSWORD}"
    if CA_FILE and REGISTRY.startswith("https://"):
        conf["ssl.ca.location"] = CA_FILE
    return conf


def http_json(url, timeout=5):
    req = urllib.request.Request(url)
    if REGISTRY_USER:
        token = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    ctx = ssl.create_default_context(cafile=CA_FILE or None) if url.startswith("https://") else None
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
        return json.loads(r.read() or b"null")


def subjects():
    try:
        return set(http_json(REGISTRY + "/subjects"))
    except (OSError, ValueError):
        return set()


def schema_full_name(schema_str):
    s = json.loads(schema_str)
    name = s.get("name", "")
    if "." not in name and s.get("namespace"):
        name = s["namespace"] + "." + name
    return name


def framed_id(value):
    """The schema id of a Confluent-framed value (magic byte 0, 4-byte big-endian id), or None."""
    if value is None or len(value) < 5 or value[0] != 0:
        return None
    return struct.unpack(">I", value[1:5])[0]


class OrderFlow:
    """bin/orderflow run as a subprocess, its output in a log file."""

    def __init__(self, workdir):
        self.log_path = Path(workdir) / "orderflow.log"
        self.proc = None

    def secret_file(self, name, value):
        path = Path(self.log_path).parent / name
        path.write_text(value + "\n")
        path.chmod(0o600)
        return str(path)

    def start(self):
        cmd = [str(BIN), "--log-level", "info", "run", "--brokers", BROKERS, "--registry", REGISTRY,
               "--prefix", PREFIX]
        if REGISTRY_USER:
            cmd += ["--registry-user", REGISTRY_USER,
                    "--registry-password-file", self.secret_file("registry-password", REGISTRY_PASSWORD)]
        if CA_FILE and REGISTRY.startswith("https://"):
            cmd += ["--registry-ca-file", CA_FILE]
        # Redis's ACL user and password out of the URL: the password goes in a file.
        r = urllib.parse.urlsplit(REDIS)
        if r.password is not None:
            cmd += ["--redis-password-file", self.secret_file("redis-password", urllib.parse.unquote(r.password))]
        if r.username:
            cmd += ["--redis-user", urllib.parse.unquote(r.username)]
        bare = r._replace(netloc=f"{r.hostname}:{r.port}" if r.port else r.hostname)
        cmd += ["--redis", urllib.parse.urlunsplit(bare)]
        if CA_FILE and r.scheme == "rediss":
            cmd += ["--redis-ca-file", CA_FILE]
        log("starting " + " ".join(cmd))
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env={**os.environ, **ORDERFLOW_KAFKA_ENV})

    def output(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout):
        """SIGTERM; returns the exit code, or None when it did not exit within timeout (then SIGKILL)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def wait_ready(of):
    """Until orderflow registered the subjects this test uses and says its roles are running."""
    want = {REQUESTS + "-value", STATUS + "-value", DLQ + "-value"}
    deadline = time.monotonic() + remaining(READY_TIMEOUT)
    while time.monotonic() < deadline:
        if not of.alive():
            return False, f"orderflow exited with {of.proc.returncode} during startup"
        missing = want - subjects()
        if not missing and "running roles" in of.output():
            return True, ""
        time.sleep(0.2)
    return False, f"not ready within {READY_TIMEOUT}s; subjects missing: {sorted(want - subjects())}"


def order(order_id, product):
    """An OrderRequested as a dict for AvroSerializer: a Rye Amazon order the sandbox places."""
    return {
        "order_id": order_id,
        "attempt": 1,
        "provider": "rye",
        "buyer": {
            "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com",
            "phone": "+14155550101", "address1": "2 Market St", "address2": "", "city": "San Francisco",
            "province_code": "CA", "postal_code": "94105", "country_code": "US",
        },
        "items": [{"merchant": "amazon", "product_id": product, "quantity": 1, "price_cents": 2599}],
        "currency": "USD",
        "payment_ref": "tok_visa",
        "shopper_ip": "203.0.113.20",
        "requested_at": datetime.datetime.now(datetime.timezone.utc),
        "deadline": None,
        "replaces_cart_id": None,
        "replay_id": None,
        "replay_count": 0,
        "attributes": {"source": "confluent-kafka-python interop"},
    }


class Watcher:
    """Consumes the status and dead-letter topics, decoding with AvroDeserializer."""

    def __init__(self, sr):
        # TopicNameStrategy, named explicitly: confluent-kafka 2.16 otherwise first asks the
        # registry for topic "associations", an API Apicurio does not have (seen hanging there).
        self.deser = AvroDeserializer(sr, conf={"subject.name.strategy.type": "TOPIC"})
        self.consumer = Consumer({
            **KAFKA_CONF,
            "bootstrap.servers": BROKERS,
            "group.id": RUN + ".interop-watcher",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 1000,
        })
        self.consumer.subscribe([STATUS, DLQ])
        self.records = []  # (topic, key, raw value, decoded value or None, decode error or None)

    def poll(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            m = self.consumer.poll(min(0.2, max(0.01, end - time.monotonic())))
            if m is None:
                continue
            if m.error():
                if m.error().fatal():
                    raise KafkaException(m.error())
                continue  # e.g. UNKNOWN_TOPIC_OR_PART before the topic is visible
            decoded, err = None, None
            try:
                decoded = self.deser(m.value(), SerializationContext(m.topic(), MessageField.VALUE))
            except Exception as e:  # noqa: BLE001 - recorded and asserted on
                err = f"{type(e).__name__}: {e}"
            self.records.append((m.topic(), m.key(), m.value(), decoded, err))

    def wait_for(self, pred, timeout):
        deadline = time.monotonic() + remaining(timeout)
        while True:
            for r in self.records:
                if pred(r):
                    return r
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.poll(min(0.5, left))

    def events(self, order_id):
        return [(r[3]["state"], r[3].get("merchant"), r[3].get("terminal")) for r in self.records
                if r[0] == STATUS and r[3] and r[3].get("order_id") == order_id]

    def close(self):
        self.consumer.close()


def placed(order_id):
    return lambda r: (r[0] == STATUS and r[3] is not None and r[3].get("order_id") == order_id
                      and r[3].get("state") == "placed" and r[3].get("terminal") is True
                      and r[3].get("merchant") == "amazon")


def check_placed(w, name, order_id):
    r = w.wait_for(placed(order_id), PLACED_TIMEOUT)
    if not check(f"{name}: order {order_id} reaches placed/terminal for merchant amazon, decoded by AvroDeserializer",
                 r is not None, f"events seen: {w.events(order_id)}"):
        return None
    st = r[3]
    check(f"{name}: placed OrderStatus fields", st["order_id"] == order_id and st["provider"] == "rye"
          and st["attempt"] == 1 and isinstance(st["event_id"], str) and st["event_id"] != ""
          and isinstance(st["at"], datetime.datetime) and st["cart_id"] != "" and r[1] == order_id.encode(),
          f"record key {r[1]!r}, value {st!r}")
    return r


def run(workdir):
    if not BIN.is_file():
        check(f"{BIN} exists (make build)", False)
        return
    of = OrderFlow(workdir)
    of.start()
    watcher = None
    producer = None
    try:
        ok, why = wait_ready(of)
        if not check(f"orderflow ready: subjects of {PREFIX}* registered, roles running", ok, why):
            return
        log("orderflow ready")

        sr = SchemaRegistryClient(registry_conf())
        latest = sr.get_latest_version(REQUESTS + "-value")
        check("registry: latest requests-value schema is orderflow.v1.OrderRequested",
              schema_full_name(latest.schema.schema_str) == "orderflow.v1.OrderRequested",
              latest.schema.schema_str[:200])
        ser = AvroSerializer(sr, latest.schema.schema_str,
                             conf={"auto.register.schemas": False, "use.latest.version": True,
                                   "subject.name.strategy.type": "TOPIC"})
        # murmur2_random: the Java client's key partitioner, which orderflow's producer also uses.
        producer = Producer({**KAFKA_CONF, "bootstrap.servers": BROKERS, "partitioner": "murmur2_random",
                             "enable.idempotence": True, "acks": "all"})
        watcher = Watcher(sr)
        delivery_errors = []

        def delivered(err, msg):
            if err is not None:
                delivery_errors.append(f"{msg.topic()}/{msg.key()!r}: {err}")

        def produce(key, value):
            producer.produce(REQUESTS, key=key, value=value, on_delivery=delivered)
            left = producer.flush(remaining(15))
            return left == 0 and not delivery_errors, f"unflushed {left}, errors {delivery_errors}"

        # 2. An order written by the independent client.
        first = f"{RUN}-py-1"
        value = ser(order(first, f"B0PY{RUN[-6:]}1"), SerializationContext(REQUESTS, MessageField.VALUE))
        check("AvroSerializer frames the order with the id orderflow registered for requests-value",
              framed_id(value) == latest.schema_id, f"framed id {framed_id(value)}, registry id {latest.schema_id}")
        ok, why = produce(first.encode(), value)
        check(f"produced python order {first} to {REQUESTS}", ok, why)

        # 3. orderflow places it; its status events decode with the independent deserializer.
        r = check_placed(watcher, "python order", first)
        status_id = sr.get_latest_version(STATUS + "-value").schema_id
        ours = [x for x in watcher.records if x[0] == STATUS]
        bad = [x for x in ours if x[4] is not None]
        check("every status record orderflow wrote decodes with AvroDeserializer", ours and not bad,
              f"{len(bad)} of {len(ours)} failed, first: {bad[:1]}")
        if r is not None:
            sid = framed_id(r[2])
            name = schema_full_name(sr.get_schema(sid).schema_str) if sid is not None else None
            check("orderflow's placed record is framed with the status-value schema orderflow.v1.OrderStatus",
                  sid == status_id and name == "orderflow.v1.OrderStatus",
                  f"framed id {sid} ({name}), status-value latest id {status_id}")

        # 4. A record that is not Confluent-framed goes to the DLQ; an order after it is still placed.
        second = f"{RUN}-py-2"
        garbage = b"not avro \xff\xfe\x00 " + RUN.encode()
        # Same key as the valid order that follows: same partition, so the worker meets the garbage first.
        ok, why = produce(second.encode(), garbage)
        check("produced a non-Confluent-framed record to the requests topic", ok, why)
        value = ser(order(second, f"B0PY{RUN[-6:]}2"), SerializationContext(REQUESTS, MessageField.VALUE))
        ok, why = produce(second.encode(), value)
        check(f"produced python order {second} after the garbage", ok, why)

        dl = watcher.wait_for(lambda x: x[0] == DLQ and x[3] is not None and x[3].get("raw_value") == garbage,
                              DLQ_TIMEOUT)
        dlqs = [(x[3] or {}).get("reason") or x[4] for x in watcher.records if x[0] == DLQ]
        if check("garbage lands in the DLQ as a DeadLetter with raw_value == the garbage bytes",
                 dl is not None, f"DLQ records seen: {dlqs}"):
            d = dl[3]
            check("DeadLetter says the record could not be decoded",
                  "decod" in d["reason"].lower() and d["action"] == "fix-record",
                  f"reason {d['reason']!r}, action {d['action']!r}")
            check("DeadLetter names the source record and keeps the raw key",
                  d["source_topic"] == REQUESTS and d["source_offset"] >= 0 and d["raw_key"] == second.encode()
                  and d["dead_letter_id"] != "" and isinstance(d["at"], datetime.datetime),
                  f"{ {k: d[k] for k in ('dead_letter_id', 'source_topic', 'source_partition', 'source_offset', 'raw_key')} }")
            sid = framed_id(dl[2])
            name = schema_full_name(sr.get_schema(sid).schema_str) if sid is not None else None
            check("orderflow's DLQ record is framed with schema orderflow.v1.DeadLetter",
                  name == "orderflow.v1.DeadLetter" and sid == sr.get_latest_version(DLQ + "-value").schema_id,
                  f"framed id {sid} ({name})")
        check_placed(watcher, "order after garbage", second)
        check("orderflow still running after the garbage", of.alive(), f"exit code {of.proc.returncode}")
    finally:
        if watcher is not None:
            watcher.close()
        if producer is not None:
            producer.flush(1)
        # 5. Graceful stop.
        if of.alive():
            t0 = time.monotonic()
            code = of.stop(STOP_TIMEOUT)
            check(f"SIGTERM: orderflow exits 0 within {STOP_TIMEOUT}s", code == 0,
                  "did not exit (killed)" if code is None else f"exit code {code}")
            log(f"orderflow stopped in {time.monotonic() - t0:.1f}s")
        of.kill()
        of.logf.close()
        if any(not ok for _, ok, _ in results):
            out = of.output().splitlines()
            print(f"---- last 40 lines of orderflow output ({of.log_path}) ----")
            print("\n".join(out[-40:]))
            print("---- end of orderflow output ----")


def main():
    # A call that blocks past every deadline (a client library waiting on the network) prints
    # where it hangs; `make interop` interrupts the run after 240 s.
    faulthandler.dump_traceback_later(180, exit=False)
    log(f"run {RUN}: brokers {BROKERS}, registry {REGISTRY}, redis {redacted(REDIS)}")
    workdir = tempfile.mkdtemp(prefix="orderflow-interop-")
    try:
        run(workdir)
    except (Exception, KeyboardInterrupt):  # noqa: BLE001 - any crash or interrupt is a failure
        check("interop test ran without an exception", False, traceback.format_exc())
    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    log(f"done (orderflow log kept in {workdir})")
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
