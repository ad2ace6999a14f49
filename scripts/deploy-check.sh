#!/usr/bin/env bash
# make deploy-check: validates the deployment files under deploy/ without a Docker engine or a cluster.
#
#   yaml         every YAML file under deploy/ parses (PyYAML)
#   kubernetes   each object in deploy/kubernetes/ against its schema: built-in kinds with kubernetes-validate
#                (--strict, Kubernetes $K8S_VERSION), the KEDA ScaledObject with check-jsonschema and
#                deploy/schemas/keda-scaledobject.schema.json
#   consistency  the objects agree: ScaledObject <-> ConfigMap (group, topic, brokers), replicas <= the account's
#                stream limit, grace period > drain timeout, probes and Service on the metrics port, selectors
#   worker env   every variable the files set is one the worker reads (from `gigachat-worker config print`),
#                and `gigachat-worker config check` accepts the values
#   compose      deploy/docker-compose.yml against the Compose specification (check-jsonschema, vendor.compose-spec),
#                the worker service scalable (no container_name, no published port), Prometheus finding it by DNS
#   dockerfile   hadolint (any finding fails) and the image's contract (non-root USER, STOPSIGNAL SIGTERM, ...)
#   live scrape  Tansu, the emulator and one worker on 127.0.0.1 answer a few jobs; /healthz, /readyz and
#                /metrics are read, and SIGTERM must end the worker with 0
#   dashboard    every metric in the Grafana dashboard's PromQL is one that scrape exported (labels too)
#   self-test    each checker is fed a broken fixture from deploy/check-fixtures/ and must reject it
#
# One line per check; a failing check prints the validator's output under its line. Exit 1 if any check failed.
# Environment: BIN (default .build/debug/gigachat-worker), K8S_VERSION (default 1.31.0), VENV (default .venv),
# TANSU_BIN (default /usr/local/bin/tansu). Everything it starts binds 127.0.0.1 and is stopped when it ends.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEPLOY=deploy
FIXTURES=$DEPLOY/check-fixtures
KEDA_SCHEMA=$DEPLOY/schemas/keda-scaledobject.schema.json
K8S_DIR=$DEPLOY/kubernetes
VENV=${VENV:-"$ROOT/.venv"}
BIN=${BIN:-"$ROOT/.build/debug/gigachat-worker"}
K8S_VERSION=${K8S_VERSION:-1.31.0}
TANSU_BIN=${TANSU_BIN:-/usr/local/bin/tansu}
PY="$VENV/bin/python"
export LD_LIBRARY_PATH="/usr/local/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The worker reads GIGACHAT_* from the environment: a developer's own settings must not leak into the checks.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^GIGACHAT_' || true)

for tool in python check-jsonschema kubernetes-validate hadolint; do
    if [ ! -x "$VENV/bin/$tool" ]; then
        echo "deploy-check: $VENV/bin/$tool is missing: run make setup (scripts/bootstrap.sh)" >&2
        exit 2
    fi
done
"$PY" -c 'import yaml' 2>/dev/null || { echo "deploy-check: PyYAML missing in $VENV: run make setup" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM HUP

passed=0
failed=0
W="$WORK/bin/gigachat-worker"   # a private copy of $BIN (see prepare_binary)
METRICS="$WORK/metrics.txt"     # the live scrape, shared by the dashboard check and its self-test

# run_check NAME FUNCTION ARGS...: the function runs in a subshell with errexit; on success its last output line
# is the summary, on failure all its output is shown.
run_check() {
    local name=$1 rc
    shift
    set +e
    (set -e; "$@") >"$WORK/out" 2>&1
    rc=$?
    set -e
    if [ $rc = 0 ]; then
        passed=$((passed + 1))
        printf 'ok    %s: %s\n' "$name" "$(tail -n 1 "$WORK/out")"
    else
        failed=$((failed + 1))
        printf 'FAIL  %s\n' "$name"
        sed 's/^/      /' "$WORK/out"
    fi
}

# expect_rejection NAME FIXTURE PATTERN FUNCTION ARGS...: the self-test of a checker. It passes only when the
# checker fails AND its output matches PATTERN (an extended regex naming the planted defect), so a checker that
# fails for another reason (a missing file, a crash) does not count as having caught the defect.
expect_rejection() {
    local name=$1 fixture=$2 pattern=$3 rc
    shift 3
    if [ ! -f "$FIXTURES/$fixture" ]; then
        failed=$((failed + 1))
        printf 'FAIL  self-test %s: fixture %s/%s is missing\n' "$name" "$FIXTURES" "$fixture"
        return
    fi
    set +e
    (set -e; "$@") >"$WORK/out" 2>&1
    rc=$?
    set -e
    if [ $rc != 0 ] && grep -Eq -- "$pattern" "$WORK/out"; then
        passed=$((passed + 1))
        printf 'ok    self-test %s: %s rejected: ...%s...\n' "$name" "$fixture" \
            "$(grep -m 1 -o -E -- ".{0,40}($pattern).{0,40}" "$WORK/out" | head -n 1)"
    else
        failed=$((failed + 1))
        if [ $rc = 0 ]; then
            printf 'FAIL  self-test %s: the checker accepted the broken fixture %s\n' "$name" "$fixture"
        else
            printf 'FAIL  self-test %s: the checker failed on %s, but not on the planted defect /%s/\n' "$name" "$fixture" "$pattern"
        fi
        sed 's/^/      /' "$WORK/out"
    fi
}

# --- a: YAML -------------------------------------------------------------------------------------------------
# check_yaml FILE...: each file parses as one or more YAML documents.
check_yaml() {
    "$PY" - "$@" <<'EOF'
import sys, yaml
bad = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            list(yaml.safe_load_all(f))
    except yaml.YAMLError as e:
        print(f"ERROR {path}: {e}")
        bad += 1
if bad:
    sys.exit(1)
print(f"{len(sys.argv) - 1} files parse")
EOF
}

# --- b: Kubernetes objects -----------------------------------------------------------------------------------
# check_kubernetes FILE: every object in FILE validates. Built-in kinds: kubernetes-validate --strict for
# $K8S_VERSION (an unknown field, a wrong type or an unknown kind/apiVersion fails; the tool itself only warns
# on the last, so a WARN counts as a failure here). keda.sh objects: check-jsonschema with $KEDA_SCHEMA.
check_kubernetes() {
    local file=$1 docs status=0 doc kind api name out
    docs="$WORK/k8s-docs"
    rm -rf "$docs" && mkdir -p "$docs"
    "$PY" - "$file" "$docs" <<'EOF' >"$docs/index" || return 1
import json, sys, yaml
path, out = sys.argv[1], sys.argv[2]
with open(path) as f:
    objects = [d for d in yaml.safe_load_all(f) if d is not None]
if not objects:
    sys.exit(f"ERROR {path}: no Kubernetes object")
for i, obj in enumerate(objects):
    if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
        sys.exit(f"ERROR {path}: document {i + 1} has no apiVersion/kind")
    with open(f"{out}/{i}.json", "w") as f:
        json.dump(obj, f)
    name = (obj.get("metadata") or {}).get("name", "?")
    print(f"{out}/{i}.json\t{obj['kind']}\t{obj['apiVersion']}\t{name}")
EOF
    local builtin=() crd=()
    while IFS=$'\t' read -r doc kind api name; do
        if [[ $api == keda.sh/* ]]; then
            if ! out=$("$VENV/bin/check-jsonschema" --schemafile "$KEDA_SCHEMA" "$doc" 2>&1); then
                echo "ERROR $file: $kind/$name does not match $KEDA_SCHEMA:"
                echo "$out" | sed "s#$doc#$file#"
                status=1
            fi
            crd+=("$kind/$name")
        else
            out=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$doc" 2>&1) || status=1
            if [ -n "$out" ]; then
                echo "$out" | sed "s#$doc#$file#"
                status=1
            fi
            builtin+=("$kind/$name")
        fi
    done <"$docs/index"
    [ $status = 0 ] || return 1
    echo "${builtin[*]}${builtin[*]:+ valid for Kubernetes $K8S_VERSION (kubernetes-validate --strict)}${builtin[*]:+${crd[*]:+; }}${crd[*]}${crd[*]:+ valid against $KEDA_SCHEMA (check-jsonschema)}"
}

# check_k8s_consistency FILE...: the objects in FILEs (ConfigMap, Deployment, ScaledObject, Service, PDB, HPA)
# agree with each other and with the worker's behaviour.
check_k8s_consistency() {
    "$PY" - "$@" <<'EOF'
import re, sys, yaml
objs = {}
for path in sys.argv[1:]:
    with open(path) as f:
        for d in yaml.safe_load_all(f):
            if d:
                objs.setdefault(d["kind"], []).append(d)
errors = []
def one(kind):
    found = objs.get(kind, [])
    if len(found) != 1:
        errors.append(f"expected one {kind}, found {len(found)}")
        return None
    return found[0]
def seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text).strip())
    if not m:
        errors.append(f"cannot read the duration {text!r}")
        return 0
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]

cm, dep, so = one("ConfigMap"), one("Deployment"), one("ScaledObject")
svc, pdb = one("Service"), one("PodDisruptionBudget")
hpas = objs.get("HorizontalPodAutoscaler", [])
if errors:
    sys.exit("\n".join("ERROR " + e for e in errors))
env = cm.get("data") or {}
group = env.get("GIGACHAT_WORKER_KAFKA_GROUP_ID") or "gigachat-worker"
jobs = env.get("GIGACHAT_WORKER_TOPICS_JOBS") or "gigachat.jobs"
brokers = env.get("GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS")
port = int(env.get("GIGACHAT_WORKER_METRICS_PORT") or 9464)
drain = seconds(env.get("GIGACHAT_WORKER_SHUTDOWN_DRAIN_TIMEOUT") or "30s")
account = env.get("GIGACHAT_ACCOUNT_CONCURRENCY")
if env.get("GIGACHAT_WORKER_METRICS_HOST") != "0.0.0.0":
    errors.append("ConfigMap: GIGACHAT_WORKER_METRICS_HOST must be 0.0.0.0 (probes and Prometheus come from outside the pod)")

# ScaledObject <-> ConfigMap and Deployment
spec = so["spec"]
ref = spec["scaleTargetRef"]
if ref.get("name") != dep["metadata"]["name"] or ref.get("kind", "Deployment") != "Deployment":
    errors.append(f"ScaledObject scales {ref.get('kind', 'Deployment')}/{ref.get('name')}, not Deployment/{dep['metadata']['name']}")
for trig in spec["triggers"]:
    if trig["type"] != "kafka":
        continue
    md = trig["metadata"]
    for key, want in (("consumerGroup", group), ("topic", jobs), ("bootstrapServers", brokers)):
        if md.get(key) != want:
            errors.append(f"ScaledObject kafka trigger {key} is {md.get(key)!r}, the ConfigMap says {want!r}")
lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
if lo > hi:
    errors.append(f"ScaledObject minReplicaCount {lo} > maxReplicaCount {hi}")
for what, top in [("ScaledObject maxReplicaCount", hi)] + [("HPA maxReplicas", h["spec"]["maxReplicas"]) for h in hpas]:
    if account and top > int(account):
        errors.append(f"{what} {top} exceeds GIGACHAT_ACCOUNT_CONCURRENCY {account}: workers beyond the account's stream limit add nothing")
for h in hpas:
    if h["spec"]["scaleTargetRef"].get("name") != dep["metadata"]["name"]:
        errors.append("HPA does not target the Deployment")

# Deployment
pod = dep["spec"]["template"]["spec"]
labels = dep["spec"]["template"]["metadata"].get("labels", {})
grace = pod.get("terminationGracePeriodSeconds", 30)
if grace <= drain:
    errors.append(f"terminationGracePeriodSeconds {grace} must exceed the shutdown drain timeout ({drain:g} s)")
sc = pod.get("securityContext", {})
if not sc.get("runAsNonRoot") or sc.get("runAsUser", 1) == 0:
    errors.append("the pod must run as non-root (securityContext.runAsNonRoot, a non-zero runAsUser)")
(container,) = [c for c in pod["containers"]]
ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
def probe_port(probe):
    p = probe["httpGet"]["port"]
    return ports.get(p) if isinstance(p, str) else p
for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    probe = container.get(kind)
    if not probe or probe.get("httpGet", {}).get("path") != path:
        errors.append(f"{kind} must be an httpGet on {path}")
    elif probe_port(probe) != port:
        errors.append(f"{kind} port is {probe_port(probe)}, the metrics port is {port}")
sources = {(k, v["name"]) for e in container.get("envFrom", []) for k, v in e.items() if isinstance(v, dict)}
if ("configMapRef", cm["metadata"]["name"]) not in sources or not any(k == "secretRef" for k, _ in sources):
    errors.append("the container must take envFrom the ConfigMap and a Secret")
res = container.get("resources", {})
if not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory"):
    errors.append("the container needs memory requests and limits")

# Service and PDB select the pods
def selects(sel):
    return sel and all(labels.get(k) == v for k, v in sel.items())
if not selects(svc["spec"].get("selector")):
    errors.append("the metrics Service does not select the Deployment's pods")
ann = svc["metadata"].get("annotations", {})
if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(port):
    errors.append(f"the metrics Service needs prometheus.io/scrape \"true\" and prometheus.io/port \"{port}\"")
if not selects(pdb["spec"].get("selector", {}).get("matchLabels")):
    errors.append("the PodDisruptionBudget does not select the Deployment's pods")
if errors:
    sys.exit("\n".join("ERROR " + e for e in errors))
print(f"group {group}, topic {jobs}, replicas {lo}..{hi} <= account streams {account}, "
      f"grace {grace} s > drain {drain:g} s, probes and Service on :{port}")
EOF
}

# --- the worker binary -----------------------------------------------------------------------------------------
# prepare_binary: copies $BIN (it may be replaced by a rebuild while this runs) and checks the copy starts.
prepare_binary() {
    mkdir -p "$WORK/bin"
    for _ in $(seq 30); do   # up to a minute: a rebuild may be relinking it
        if [ -x "$BIN" ] && cp "$BIN" "$W" 2>/dev/null && "$W" --help >/dev/null 2>&1; then
            echo "$BIN copied"
            return 0
        fi
        sleep 2
    done
    echo "ERROR $BIN is missing or does not start (build it with swift build, or set BIN=)"
    return 1
}

# check_worker_env FILE...: the variables that FILEs give the worker (ConfigMap data, Secret, Deployment env,
# the Compose worker service's environment with deploy/.env.example interpolated, a .env file) are all names the
# worker reads, and `gigachat-worker config check` accepts each set of values.
check_worker_env() {
    [ -x "$W" ] || { echo "ERROR no worker binary"; return 1; }
    env -i GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS=x:9092 GIGACHAT_CREDENTIALS=eDp5 LD_LIBRARY_PATH="$LD_LIBRARY_PATH" \
        "$W" config print >"$WORK/config-print" 2>&1 || { cat "$WORK/config-print"; return 1; }
    "$PY" - "$WORK/config-print" "$WORK/envsets" "$@" <<'EOF' || return 1
import os, re, sys, yaml
printed, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
known = {"GIGACHAT_WORKER_LOG_LEVEL", "GIGACHAT_WORKER_LOG_FORMAT"}   # logging options, not config keys
for line in open(printed):
    key = line.split()[0] if line.strip() else ""
    if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+|[a-z_]+", key):
        if key.startswith("gigachat."):
            known.add("GIGACHAT_" + key[len("gigachat."):].upper().replace(".", "_"))
        else:
            known.add("GIGACHAT_WORKER_" + key.upper().replace(".", "_"))
if len(known) < 20:
    sys.exit(f"ERROR could not read the worker's keys from `config print`:\n{open(printed).read()}")

def dotenv(path):
    values = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            values[k.strip()] = v.strip()
    return values

def interpolate(value, variables):
    def sub(m):
        name, default = m.group(1), m.group(3) or ""
        return variables.get(name) or default
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}", sub, str(value))

sets, errors = [], []
for path in files:
    if os.path.basename(path).startswith(".env") or path.endswith(".env"):
        sets.append((path, dotenv(path), False))     # names only: the values are to be filled in
        continue
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    if any("services" in d for d in docs):
        example = os.path.join(os.path.dirname(path), ".env.example")
        variables = dotenv(example) if os.path.exists(example) else {}
        for d in docs:
            service = d["services"].get("worker") or {}
            environment = service.get("environment") or {}
            if isinstance(environment, list):
                environment = dict(e.split("=", 1) for e in environment)
            sets.append((f"{path} (worker service)", {k: interpolate(v, variables) for k, v in environment.items()}, True))
        continue
    values = {}
    for d in docs:
        kind = d.get("kind")
        if kind == "ConfigMap":
            values.update(d.get("data") or {})
        elif kind == "Secret":
            values.update(d.get("stringData") or {})
            values.update({k: "eDp5" for k in d.get("data") or {}})
        elif kind == "Deployment":
            for c in d["spec"]["template"]["spec"]["containers"]:
                for e in c.get("env", []):
                    values[e["name"]] = str(e.get("value", "x"))
    sets.append((path, values, None))
k8s = {}
checked = []
for where, values, run in sets:
    for name in values:
        if name.startswith("GIGACHAT_") and name not in known:
            errors.append(f"{where}: {name} is not a variable the worker reads")
    if run is None:
        k8s.update(values)
    elif run:
        checked.append((where, values))
if k8s:
    checked.append(("Kubernetes ConfigMap + Secret + Deployment env", k8s))
with open(out, "w") as f:
    for where, values in checked:
        f.write(where + "\t" + "\t".join(f"{k}={v}" for k, v in values.items() if k.startswith("GIGACHAT_")) + "\n")
if errors:
    sys.exit("\n".join("ERROR " + e for e in errors))
EOF
    local where vars count=0
    while IFS=$'\t' read -r -a fields; do
        where=${fields[0]}
        vars=("${fields[@]:1}")
        if ! env -i LD_LIBRARY_PATH="$LD_LIBRARY_PATH" "${vars[@]}" "$W" config check >"$WORK/config-check" 2>&1; then
            echo "ERROR $where: gigachat-worker config check rejects it:"
            cat "$WORK/config-check"
            return 1
        fi
        count=$((count + 1))
    done <"$WORK/envsets"
    echo "all names known to the worker; config check accepts $count sets of values"
}

# --- c: Compose ------------------------------------------------------------------------------------------------
# check_compose FILE: the Compose specification's schema, then what --scale needs and Prometheus' discovery.
check_compose() {
    local file=$1
    "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$file" || return 1
    "$PY" - "$file" <<'EOF'
import os, re, sys, yaml
path = sys.argv[1]
doc = yaml.safe_load(open(path))
errors = []
services = doc.get("services", {})
worker = services.get("worker")
if not worker:
    sys.exit(f"ERROR {path}: no `worker` service")
if "container_name" in worker:
    errors.append("the worker service has a container_name: --scale worker=N cannot start N of them")
if worker.get("ports"):
    errors.append("the worker service publishes ports: --scale worker=N would collide on them (use expose)")
env = worker.get("environment") or {}
if isinstance(env, list):
    env = dict(e.split("=", 1) for e in env)
if env.get("GIGACHAT_WORKER_METRICS_HOST") != "0.0.0.0":
    errors.append("the worker needs GIGACHAT_WORKER_METRICS_HOST=0.0.0.0 to be scraped")
port = int(env.get("GIGACHAT_WORKER_METRICS_PORT") or 9464)
grace = str(worker.get("stop_grace_period", "10s"))
m = re.fullmatch(r"(\d+)(s|m)", grace)
if not m or int(m.group(1)) * (60 if m.group(2) == "m" else 1) <= 30:
    errors.append(f"stop_grace_period {grace} must exceed the 30 s shutdown drain")
if worker.get("stop_signal", "SIGTERM") != "SIGTERM":
    errors.append("the worker's stop_signal must be SIGTERM")
# Prometheus: its config file (a bind mount of the prometheus service) finds the workers by DNS.
prom = [s for s in services.values() if "prom/prometheus" in str(s.get("image", ""))]
if len(prom) != 1:
    errors.append("expected one prom/prometheus service")
else:
    mounts = [v.split(":")[0] for v in prom[0].get("volumes", []) if isinstance(v, str) and v.split(":")[1].endswith("prometheus.yml")]
    if not mounts:
        errors.append("the prometheus service mounts no prometheus.yml")
    else:
        config = yaml.safe_load(open(os.path.join(os.path.dirname(path), mounts[0])))
        targets = [(name, sd.get("port")) for job in config.get("scrape_configs", [])
                   for sd in job.get("dns_sd_configs", []) for name in sd.get("names", [])]
        if ("worker", port) not in targets:
            errors.append(f"{mounts[0]} has no dns_sd_configs entry for worker:{port} (found {targets})")
if errors:
    sys.exit("\n".join(f"ERROR {path}: {e}" for e in errors))
print(f"valid Compose specification; worker scalable, {len(services)} services, Prometheus discovers worker:{port} by DNS")
EOF
}

# --- d: Dockerfile ---------------------------------------------------------------------------------------------
# check_dockerfile FILE: hadolint with every level failing (inline `# hadolint ignore=` must justify exceptions),
# then the image contract the Compose file and the Deployment rely on.
check_dockerfile() {
    local file=$1 missing=() joined="$WORK/Dockerfile.joined"
    "$VENV/bin/hadolint" --no-color --failure-threshold info "$file" || return 1
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$file" >"$joined"   # one line per instruction
    grep -Eq '^STOPSIGNAL SIGTERM' "$joined" || missing+=("STOPSIGNAL SIGTERM")
    grep -Eq '^EXPOSE 9464' "$joined" || missing+=("EXPOSE 9464")
    grep -Eq '^HEALTHCHECK .*/healthz' "$joined" || missing+=("a HEALTHCHECK on /healthz")
    grep -Eq '^ENV GIGACHAT_WORKER_METRICS_HOST=0\.0\.0\.0' "$joined" || missing+=("ENV GIGACHAT_WORKER_METRICS_HOST=0.0.0.0")
    grep -Eq '^USER [1-9][0-9]*' "$joined" || missing+=("a numeric non-root USER")
    grep -Eq -- 'swift build .*--static-swift-stdlib' "$joined" || missing+=("swift build --static-swift-stdlib")
    if [ ${#missing[@]} -gt 0 ]; then
        printf 'ERROR %s lacks: %s\n' "$file" "${missing[*]}"
        return 1
    fi
    echo "hadolint $("$VENV/bin/hadolint" --version | awk '{print $NF}'): no findings; non-root, STOPSIGNAL SIGTERM, HEALTHCHECK /healthz"
}

# --- e: the live scrape ----------------------------------------------------------------------------------------
# shellcheck source=scripts/lib/net.sh
. "$ROOT/scripts/lib/net.sh"
# http_get URL [OUT]: prints the HTTP status (000 when unreachable); the body goes to OUT (or nowhere).
http_get() {
    "$PY" - "$1" "${2:-/dev/null}" <<'EOF'
import sys, urllib.error, urllib.request
url, out = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=5) as r:
        status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
except OSError:
    status, body = 0, b""
open(out, "wb").write(body)
print(f"{status:03d}")
EOF
}
wait_for() {  # wait_for SECONDS COMMAND...
    local tenths=$(($1 * 10))
    shift
    for _ in $(seq "$tenths"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# live_scrape OUT: Tansu + the emulator + one worker on 127.0.0.1, a few streamed jobs answered, then /metrics
# saved to OUT once the consumer-lag gauge is in it. Everything started is stopped on the way out.
live_scrape() {
    local out=$1 live="$WORK/live" broker_port metrics_port worker
    mkdir -p "$live"
    started=()   # global, not local: the EXIT trap below runs after this function has returned
    # shellcheck disable=SC2317  # called by the EXIT trap
    stop_started() {
        local pid
        for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        for pid in "${started[@]}"; do
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        done
    }
    trap stop_started EXIT
    trap 'exit 130' INT TERM HUP
    [ -x "$W" ] || { echo "ERROR no worker binary"; return 1; }
    [ -x "$TANSU_BIN" ] || { echo "ERROR $TANSU_BIN missing: run make setup"; return 1; }

    broker_port=$(free_port)
    "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$broker_port" --advertised-listener-url "tcp://127.0.0.1:$broker_port" \
        --storage-engine memory://tansu/ >"$live/broker.log" 2>&1 </dev/null &
    started+=($!)
    wait_for 20 kcat -L -b "127.0.0.1:$broker_port" -m 2 || { echo "ERROR Tansu did not start:"; cat "$live/broker.log"; return 1; }
    local bootstrap="127.0.0.1:$broker_port"

    "$W" emulator --host 127.0.0.1 --port 0 --ttft-ms 20 --chunk-delay-ms 5 --concurrency-limit 10 \
        >"$live/emulator.log" 2>&1 </dev/null &
    started+=($!)
    wait_for 10 grep -q '^GIGACHAT_AUTH_URL=' "$live/emulator.log" || { echo "ERROR the emulator did not start:"; cat "$live/emulator.log"; return 1; }
    local base_url auth_url
    base_url=$(sed -n 's/^GIGACHAT_BASE_URL=//p' "$live/emulator.log")
    auth_url=$(sed -n 's/^GIGACHAT_AUTH_URL=//p' "$live/emulator.log")

    "$W" topics create gigachat.jobs gigachat.partials gigachat.completions gigachat.jobs.DLT --partitions 3 \
        --bootstrap-servers "$bootstrap" >"$live/topics.log" 2>&1 || { cat "$live/topics.log"; return 1; }
    "$W" submit --bootstrap-servers "$bootstrap" --template '{{document}}' --stream --manifest "$live/manifest.jsonl" \
        samples/documents/01-kafka-partitions.txt samples/documents/02-offsets.txt samples/documents/03-rate-limits.txt \
        samples/documents/04-server-sent-events.txt >"$live/submit.log" 2>&1 || { cat "$live/submit.log"; return 1; }

    metrics_port=$(free_port)
    env GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS="$bootstrap" GIGACHAT_WORKER_KAFKA_SESSION_TIMEOUT=6s \
        GIGACHAT_WORKER_METRICS_HOST=127.0.0.1 GIGACHAT_WORKER_METRICS_PORT="$metrics_port" \
        GIGACHAT_BASE_URL="$base_url" GIGACHAT_AUTH_URL="$auth_url" GIGACHAT_CREDENTIALS=ZGVwbG95LWNoZWNrOnNlY3JldA== \
        "$W" run --log-format text >"$live/worker.log" 2>&1 </dev/null &
    worker=$!
    started=("$worker" "${started[@]}")   # stopped first
    local url="http://127.0.0.1:$metrics_port"
    if ! "$W" collect --bootstrap-servers "$bootstrap" --manifest "$live/manifest.jsonl" --timeout 60 \
        --output "$live/results.jsonl" >"$live/collect.log" 2>&1; then
        echo "ERROR the jobs were not answered:"
        tail -n 20 "$live/collect.log" "$live/worker.log"
        return 1
    fi
    local healthz readyz
    healthz=$(http_get "$url/healthz")
    readyz=$(http_get "$url/readyz")
    # The lag gauge is refreshed every 5 s once partitions are assigned.
    # shellcheck disable=SC2317  # called through wait_for
    scraped() { [ "$(http_get "$url/metrics" "$out")" = 200 ] && grep -q '^gigachat_worker_consumer_lag' "$out"; }
    if ! wait_for 15 scraped; then
        echo "ERROR no gigachat_worker_consumer_lag in $url/metrics within 15 s:"
        cat "$out" 2>/dev/null
        return 1
    fi
    if [ "$healthz" != 200 ] || [ "$readyz" != 200 ]; then
        echo "ERROR /healthz answered $healthz and /readyz $readyz (200 expected for a worker holding partitions)"
        return 1
    fi
    local t0=$SECONDS rc=0
    kill -TERM "$worker"
    wait "$worker" || rc=$?
    started=("${started[@]:1}")
    if [ $rc != 0 ]; then
        echo "ERROR the worker exited $rc after SIGTERM (0 expected):"
        tail -n 20 "$live/worker.log"
        return 1
    fi
    echo "4 jobs answered; /healthz $healthz, /readyz $readyz; $(grep -c '^# TYPE' "$out") metric families scraped; SIGTERM: exit 0 in $((SECONDS - t0)) s"
}

# --- e: the dashboard ------------------------------------------------------------------------------------------
# check_dashboard FILE METRICS: every metric named in FILE's PromQL (panel targets and template queries) is a series
# in the scrape METRICS, and every label matched on it is one of its labels.
check_dashboard() {
    [ -s "$2" ] || { echo "ERROR no live scrape to compare with"; return 1; }
    "$PY" - "$1" "$2" <<'EOF'
import json, re, sys
path, scrape = sys.argv[1], sys.argv[2]

# What the worker exports: sample names and their labels; histograms also by their _bucket/_sum/_count series.
series, types = {}, {}
for line in open(scrape):
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split()[:4]
        types[name] = kind
    elif line.strip() and not line.startswith("#"):
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s", line)
        if m:
            series.setdefault(m.group(1), set()).update(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="', m.group(3) or ""))
for name, kind in types.items():
    suffixes = {"histogram": ["_bucket", "_sum", "_count"], "summary": ["", "_sum", "_count"]}.get(kind, [""])
    for s in suffixes:
        series.setdefault(name + s, set()).update({"le"} if s == "_bucket" else set())
if not series:
    sys.exit("ERROR the scrape has no series")

dashboard = json.load(open(path))
exprs = []
def walk(node, where):
    if isinstance(node, dict):
        title = node.get("title", where)
        for k, v in node.items():
            if k in ("expr", "definition") and isinstance(v, str):
                exprs.append((title, v))
            elif k == "query" and isinstance(v, str) and node.get("type") == "query":
                exprs.append((title, v))
            else:
                walk(v, title)
    elif isinstance(node, list):
        for v in node:
            walk(v, where)
walk(dashboard, "dashboard")
if not exprs:
    sys.exit(f"ERROR {path}: no PromQL expressions found")

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "atan2", "inf", "nan", "Inf", "NaN"}
STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
ALWAYS = {"instance", "job", "__name__"}   # added by Prometheus to every series
errors, used = [], set()
for where, expr in exprs:
    e = re.sub(r"\$__\w+|\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]", "", expr)               # Grafana variables
    e = re.sub(r"\blabel_values\(\s*([^,()]+(?:\{[^}]*\})?)\s*,\s*\w+\s*\)", r"\1", e)  # label_values(selector, label)
    e = re.sub(r"\blabel_values\(\s*\w+\s*\)", "", e)                                   # label_values(label)
    for metric, body in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{((?:[^}\"']|" + STRING + r")*)\}", e):
        for label in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", re.sub(STRING, '""', body)):
            if metric in series and label not in series[metric] | ALWAYS:
                errors.append(f"{where}: {metric} has no label {label!r} (it has {sorted(series[metric])}): {expr}")
    e = re.sub(STRING, " ", e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    for m in re.finditer(r"\d[\w.]*|[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        if word[0].isdigit() or word in KEYWORDS or e[m.end():].lstrip().startswith("("):
            continue
        used.add(word)
        if word not in series:
            errors.append(f"{where}: {word} is not a metric the worker exports: {expr}")
if errors:
    sys.exit("\n".join("ERROR " + e for e in errors))
families = {n for n in types if any(u == n or u.startswith(n + "_") and u[len(n):] in ("_bucket", "_sum", "_count") for u in used)}
print(f"{len(exprs)} expressions name {len(used)} series, all exported; {len(families)} of {len(types)} metric families shown")
EOF
}

# --- the checks ------------------------------------------------------------------------------------------------
mapfile -t yaml_files < <(find "$DEPLOY" -path "$FIXTURES" -prune -o -type f \
    \( -name '*.yaml' -o -name '*.yml' -o -name '*.yaml.example' -o -name '*.yml.example' \) -print | sort)
mapfile -t k8s_files < <(find "$K8S_DIR" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yaml.example' \) | sort)

run_check "yaml" check_yaml "${yaml_files[@]}"
for f in "${k8s_files[@]}"; do
    run_check "kubernetes ${f#"$K8S_DIR"/}" check_kubernetes "$f"
done
run_check "kubernetes consistency" check_k8s_consistency "${k8s_files[@]}"
run_check "compose" check_compose "$DEPLOY/docker-compose.yml"
run_check "dockerfile" check_dockerfile "$DEPLOY/Dockerfile"
run_check "worker binary" prepare_binary
run_check "worker env" check_worker_env "$K8S_DIR/configmap.yaml" "$K8S_DIR/secret.yaml.example" \
    "$K8S_DIR/deployment.yaml" "$DEPLOY/docker-compose.yml" "$DEPLOY/.env.example"
run_check "live scrape" live_scrape "$METRICS"
run_check "dashboard metrics" check_dashboard "$DEPLOY/grafana/gigachat-worker-dashboard.json" "$METRICS"

# --- f: self-test: each checker must reject its broken fixture ----------------------------------------------------
expect_rejection "yaml" broken-syntax.yaml 'broken-syntax.yaml: while parsing a flow sequence' \
    check_yaml "$FIXTURES/broken-syntax.yaml"
expect_rejection "kubernetes (wrong type)" deployment-wrong-type.yaml "spec.replicas: 'two' is not of type 'integer'" \
    check_kubernetes "$FIXTURES/deployment-wrong-type.yaml"
expect_rejection "kubernetes (unknown field)" deployment-unknown-field.yaml "'livenessprobe' was unexpected" \
    check_kubernetes "$FIXTURES/deployment-unknown-field.yaml"
expect_rejection "kubernetes (unknown kind)" unknown-kind.yaml "Couldn't find schema for kind Deploymnet" \
    check_kubernetes "$FIXTURES/unknown-kind.yaml"
expect_rejection "keda" scaledobject-invalid.yaml "'lagThreshold' is a required property|is not of type 'integer'" \
    check_kubernetes "$FIXTURES/scaledobject-invalid.yaml"
expect_rejection "kubernetes consistency" scaledobject-inconsistent.yaml "consumerGroup is 'gigachat-workers'" \
    check_k8s_consistency "$K8S_DIR/configmap.yaml" "$K8S_DIR/deployment.yaml" "$K8S_DIR/service.yaml" \
    "$K8S_DIR/pdb.yaml" "$FIXTURES/scaledobject-inconsistent.yaml"
expect_rejection "compose (schema)" compose-invalid.yml "compose-invalid.yml::\\$.services.worker" \
    check_compose "$FIXTURES/compose-invalid.yml"
expect_rejection "compose (scaling)" compose-worker-not-scalable.yml "container_name" \
    check_compose "$FIXTURES/compose-worker-not-scalable.yml"
expect_rejection "dockerfile" Dockerfile.broken "DL3007|DL3008|DL3015|DL3002" \
    check_dockerfile "$FIXTURES/Dockerfile.broken"
expect_rejection "worker env" configmap-unknown-variable.yaml "GIGACHAT_WORKER_METRIC_PORT is not a variable" \
    check_worker_env "$FIXTURES/configmap-unknown-variable.yaml"
expect_rejection "dashboard metrics" dashboard-unknown-metric.json "gigachat_worker_no_such_metric_total is not a metric" \
    check_dashboard "$FIXTURES/dashboard-unknown-metric.json" "$METRICS"

if [ $failed = 0 ]; then
    echo "deploy-check: all $passed checks passed"
else
    echo "deploy-check: $failed of $((passed + failed)) checks FAILED"
    exit 1
fi
