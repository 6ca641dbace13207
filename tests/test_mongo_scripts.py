"""The MongoDB scripts: valid JavaScript (node --check), shipped as rendered, fed what they read,
and run by a real mongosh as far as they go without a server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

import pytest
import yaml
from conftest import require_tool

from cncfdemo.stackconfig import PROJECT_ROOT
from components.workloads.mongodb.pods import SCRIPTS, SCRIPTS_DIR

SCRIPT_NAMES = sorted(path.name for path in SCRIPTS.glob("*.js"))
# env('NAME') without a fallback, and the secret-file readers: what a script cannot run without.
REQUIRED_ENV = re.compile(r"""\b(?:env|secretFile|keyfileContent)\('([A-Z_]+)'\)""")


def node_check(path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("node"), "--check", str(path)], capture_output=True,
                          text=True, timeout=60)


def test_the_scripts_are_there():
    assert {"lib.js", "replicaset-init.js", "cluster-init.js", "wait-for-mongos.js",
            "countly-app.js"} <= set(SCRIPT_NAMES)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_script_passes_a_javascript_syntax_check(name):
    result = node_check(SCRIPTS / name)
    assert result.returncode == 0, f"{name}: {result.stderr}"


def test_the_syntax_check_catches_a_broken_script(tmp_path):
    broken = tmp_path / "broken.js"
    text = (SCRIPTS / "cluster-init.js").read_text()
    broken.write_text(text.replace("for (const", "for (const {"))
    assert node_check(broken).returncode != 0


def test_the_rendered_config_map_holds_exactly_the_repository_scripts(rendered):
    folder = rendered("local-demo") / "files" / "demo" / "mongo-scripts"
    shipped = {path.name: path.read_text() for path in folder.iterdir()}
    assert shipped == {name: (SCRIPTS / name).read_text() for name in SCRIPT_NAMES}
    for path in folder.iterdir():
        assert node_check(path).returncode == 0, path.name


def test_only_the_library_sleeps_and_only_between_polls():
    """Waiting is polling with a deadline (lib.js waitFor), never a fixed sleep in a script."""
    for name in SCRIPT_NAMES:
        text = (SCRIPTS / name).read_text()
        calls = re.findall(r"\bsleep\(", text)
        assert len(calls) == (1 if name == "lib.js" else 0), name
    waiter = (SCRIPTS / "lib.js").read_text().split("function waitFor", 1)[1]
    assert "deadline" in waiter and "sleep(POLL_INTERVAL_MS)" in waiter


def _containers_running(rendered_folder, script: str):
    for path in (rendered_folder / "manifests").glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        template = (obj.get("spec") or {}).get("template")
        if not template:
            continue
        spec = template["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            if f"{SCRIPTS_DIR}/{script}" in container.get("command", []):
                yield path.name, spec, container


@pytest.mark.parametrize("script", [name for name in SCRIPT_NAMES if name != "lib.js"])
def test_every_container_running_a_script_gives_it_what_it_needs(rendered, script):
    folder = rendered("local-demo")
    required = set(REQUIRED_ENV.findall((SCRIPTS / script).read_text()))
    runs = list(_containers_running(folder, script))
    assert runs, f"nothing runs {script}"
    for manifest, spec, container in runs:
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert required <= set(env), f"{manifest} lacks {required - set(env)} for {script}"
        assert env["SCRIPTS_DIR"] == SCRIPTS_DIR
        # the files the *_FILE and *_PATH variables name are mounted
        mounts = [mount["mountPath"] for mount in container["volumeMounts"]]
        for name, value in env.items():
            if name.endswith(("_FILE", "_PATH")):
                assert any(value.startswith(mount + "/") for mount in mounts), (manifest, name)
        volumes = {volume["name"] for volume in spec["volumes"]}
        assert {mount["name"] for mount in container["volumeMounts"]} <= volumes, manifest


# The scripts run for real in mongosh (the shell the mongo image carries, from npm here): the
# parts that need no server, which is everything up to the first connection.

def mongosh() -> str:
    local = PROJECT_ROOT / ".tools" / "mongosh" / "node_modules" / ".bin" / "mongosh"
    if local.exists():
        return str(local)
    return require_tool("mongosh")


def run_script(path, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [mongosh(), "--nodb", "--quiet", "--norc", str(path)],
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SCRIPTS_DIR": str(SCRIPTS),
             **env},
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("script", [name for name in SCRIPT_NAMES if name != "lib.js"])
def test_a_missing_variable_is_named(script, tmp_path):
    result = run_script(SCRIPTS / script, {}, tmp_path)
    first = REQUIRED_ENV.findall((SCRIPTS / script).read_text())[0]
    assert result.returncode == 1
    assert f"the environment variable {first} is not set" in result.stdout


def test_waiting_for_mongos_gives_up_at_its_bound(closed_port, tmp_path):
    host = f"127.0.0.1:{closed_port}"
    result = run_script(SCRIPTS / "wait-for-mongos.js",
                        {"MONGOS_HOST": host, "WAIT_SECONDS": "3"}, tmp_path)
    assert result.returncode == 1
    assert f"gave up waiting for mongos at {host} after 3 s" in result.stdout
    assert "ECONNREFUSED" in result.stdout


def test_initiating_a_set_waits_for_every_member(closed_port, tmp_path):
    keyfile = tmp_path / "keyfile"
    keyfile.write_text("abc DEF\n123\n")
    host = f"127.0.0.1:{closed_port}"
    result = run_script(SCRIPTS / "replicaset-init.js", {
        "RS_NAME": "shard0", "RS_HOSTS": host, "KEYFILE_PATH": str(keyfile),
        "WAIT_SECONDS": "2"}, tmp_path)
    assert result.returncode == 1
    assert f"gave up waiting for member {host} after 2 s" in result.stdout


def test_library_polls_until_an_answer_and_reads_secrets(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    keyfile = tmp_path / "keyfile"
    keyfile.write_text("abc DEF\n\t123\n")
    probe = tmp_path / "probe.js"
    probe.write_text("""
load(`${process.env.SCRIPTS_DIR}/lib.js`);
let calls = 0;
const answer = waitFor('a flaky probe', 30, () => {
  calls += 1;
  if (calls < 3) { throw new Error('not yet'); }
  return calls === 3 ? 'ready' : null;
});
print(`answer=${answer} calls=${calls}`);
print(`secret=${secretFile('PASSWORD_FILE')} key=${keyfileContent('KEYFILE_PATH')}`);
// a refusal with a server code is an answer, a network error is not
const refused = command({ runCommand() {
  const err = new Error('no replset config has been received');
  err.code = 94; err.codeName = 'NotYetInitialized'; throw err; } }, { replSetGetStatus: 1 });
print(`refused=${refused.ok}/${refused.code}/${refused.codeName}`);
try {
  command({ runCommand() { throw new Error('connect ECONNREFUSED'); } }, { ping: 1 });
} catch (err) {
  print(`thrown=${err.message}`);
}
try {
  check({ ok: 0, errmsg: 'nope' }, 'adding a shard');
} catch (err) {
  print(`check=${err.message}`);
}
print(`uri=${mongoUri('h:1', { user: 'u@x', password: 'p/w', db: 'admin' })}`);
""")
    result = run_script(probe, {"PASSWORD_FILE": str(secret), "KEYFILE_PATH": str(keyfile)},
                        tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "answer=ready calls=3" in lines
    assert "secret=s3cret key=abcDEF123" in lines
    assert "refused=0/94/NotYetInitialized" in lines
    assert "thrown=connect ECONNREFUSED" in lines
    assert 'check=adding a shard failed: {"ok":0,"errmsg":"nope"}' in lines
    assert ("uri=mongodb://u%40x:p%2Fw@h:1/?authSource=admin&directConnection=true"
            "&serverSelectionTimeoutMS=5000") in lines


# Idempotency: the replica set and cluster scripts run twice against a stand-in for MongoDB (a
# global Mongo whose replica sets, shards, users, databases and sharded collections live in a
# JSON file between runs). The first run makes the changes; the second finds them made.

MONGODB_STUB = r"""
const fs = require('fs');
const STATE_FILE = process.env.STUB_STATE;
const state = fs.existsSync(STATE_FILE) ? JSON.parse(fs.readFileSync(STATE_FILE, 'utf8'))
  : { sets: {}, shards: [], users: {}, databases: [], collections: {} };

// Logged with Node's fs, not print(): a function calling a shell API becomes asynchronous in
// mongosh, and a rejected promise returned from inside a try escapes the scripts' catch.
function issued(name) {
  fs.appendFileSync(process.env.STUB_LOG, `${name}\n`);
}

function changed(name) {
  issued(name);
  fs.writeFileSync(STATE_FILE, JSON.stringify(state));
}

function serverError(code, codeName, message) {
  const err = new Error(message);
  err.code = code;
  err.codeName = codeName;
  return err;
}

function setOf(host) {
  return Object.values(state.sets).find((set) => set.members.some((m) => m.host === host));
}

function StubDB(connection, name) {
  this.connection = connection;
  this.name = name;
  this.databases = { findOne: (query) => (state.databases.includes(query._id)
    ? { _id: query._id } : null) };
  this.collections = { findOne: (query) => state.collections[query._id] || null };
}

StubDB.prototype.getUser = function (user) {
  const found = state.users[`${this.name}.${user}`];
  return found ? { user, db: this.name, roles: found.roles } : null;
};

StubDB.prototype.getCollection = function (name) {
  return { createIndex: () => changed(`createIndex:${this.name}.${name}`) };
};

StubDB.prototype.runCommand = function (request) {
  const name = Object.keys(request)[0];
  const host = this.connection.host;
  issued(name);
  const set = setOf(host);
  switch (name) {
    case 'ping':
      return this.connection.authenticate();
    case 'replSetGetStatus':
      if (!set) {
        throw serverError(94, 'NotYetInitialized', 'no replset config has been received');
      }
      return { ok: 1, set: set._id, members: set.members.map((m, i) => (
        { name: m.host, stateStr: i === 0 ? 'PRIMARY' : 'SECONDARY' })) };
    case 'replSetInitiate':
      state.sets[request.replSetInitiate._id] = request.replSetInitiate;
      changed('replSetInitiate!');
      return { ok: 1 };
    case 'hello':
      return set ? { ok: 1, setName: set._id, isWritablePrimary: set.members[0].host === host }
        : { ok: 1, isWritablePrimary: false };
    case 'replSetGetConfig':
      return { ok: 1, config: JSON.parse(JSON.stringify(set)) };
    case 'replSetReconfig':
      state.sets[set._id] = request.replSetReconfig;
      changed('replSetReconfig!');
      return { ok: 1 };
    case 'listShards':
      return { ok: 1, shards: state.shards.map((shard) => ({ _id: shard })) };
    case 'addShard':
      state.shards.push(request.name);
      changed('addShard!');
      return { ok: 1 };
    case 'createUser':
    case 'updateUser': {
      const key = `${this.name}.${request[name]}`;
      state.users[key] = { ...state.users[key], ...request };
      changed(`${name}!`);
      return { ok: 1 };
    }
    case 'enableSharding':
      state.databases.push(request.enableSharding);
      changed('enableSharding!');
      return { ok: 1 };
    case 'shardCollection':
      state.collections[request.shardCollection] = { _id: request.shardCollection,
        key: request.key };
      changed('shardCollection!');
      return { ok: 1 };
    default:
      throw new Error(`the stub does not know ${name}`);
  }
};

function StubMongo(uri) {
  const match = uri.match(/^mongodb:\/\/(?:([^:@]+):([^@]+)@)?([^/]+)\//);
  this.user = match[1] && decodeURIComponent(match[1]);
  this.password = match[2] && decodeURIComponent(match[2]);
  this.host = match[3];
}

StubMongo.prototype.getDB = function (name) {
  return new StubDB(this, name);
};

StubMongo.prototype.close = function () {};

StubMongo.prototype.authenticate = function () {
  const account = Object.entries(state.users).find(([key]) => key.endsWith(`.${this.user}`));
  if (this.user === '__system' || (account && account[1].pwd === this.password)) {
    return { ok: 1 };
  }
  throw serverError(18, 'AuthenticationFailed', 'Authentication failed.');
};

globalThis.Mongo = StubMongo;
"""

# What changes a deployment; the stub marks each with "!" when it is issued.
CHANGING_COMMANDS = {"replSetInitiate!", "replSetReconfig!", "addShard!", "createUser!",
                     "updateUser!", "enableSharding!", "shardCollection!"}


def run_against_stub(script: str, env: dict[str, str], tmp_path) -> tuple[int, list[str], str]:
    """Runs `script` with the stub loaded first: its rc, the commands it issued (the changing
    ones marked "!"), its output."""
    stub = tmp_path / "mongodb-stub.js"
    stub.write_text(MONGODB_STUB)
    runner = tmp_path / f"run-{script}"
    runner.write_text(f"load({str(stub)!r});\nload({str(SCRIPTS / script)!r});\n")
    log = tmp_path / "commands.log"
    log.write_text("")
    result = run_script(runner, {"STUB_STATE": str(tmp_path / "state.json"),
                                 "STUB_LOG": str(log), **env}, tmp_path)
    return result.returncode, log.read_text().split(), result.stdout + result.stderr


@pytest.fixture
def keyfile(tmp_path) -> dict[str, str]:
    path = tmp_path / "keyfile"
    path.write_text("abc DEF\n123\n")
    return {"KEYFILE_PATH": str(path), "WAIT_SECONDS": "5"}


def replica_set(name: str, members: int) -> dict[str, str]:
    return {"RS_NAME": name,
            "RS_HOSTS": ",".join(f"mongo-{name}-{i}.mongo-{name}:27017" for i in range(members))}


def test_initiating_a_set_twice_changes_nothing_the_second_time(keyfile, tmp_path):
    env = {**keyfile, **replica_set("shard0", 3)}
    rc, commands, output = run_against_stub("replicaset-init.js", env, tmp_path)
    assert rc == 0, output
    assert [c for c in commands if c in CHANGING_COMMANDS] == ["replSetInitiate!"]
    assert "has a primary and all 3 member(s)" in output

    rc, commands, output = run_against_stub("replicaset-init.js", env, tmp_path)
    assert rc == 0, output
    assert "replSetGetStatus" in commands
    assert not set(commands) & CHANGING_COMMANDS, output
    assert "shard0 is already initiated" in output


def test_a_member_added_to_the_config_is_the_only_change(keyfile, tmp_path):
    rc, _, output = run_against_stub("replicaset-init.js", {**keyfile, **replica_set("cfg", 2),
                                                            "RS_CONFIGSVR": "true"}, tmp_path)
    assert rc == 0, output
    rc, commands, output = run_against_stub(
        "replicaset-init.js", {**keyfile, **replica_set("cfg", 3), "RS_CONFIGSVR": "true"},
        tmp_path)
    assert rc == 0, output
    assert [c for c in commands if c in CHANGING_COMMANDS] == ["replSetReconfig!"]
    assert "added mongo-cfg-2.mongo-cfg:27017 to cfg" in output


def test_initialising_the_cluster_twice_changes_nothing_the_second_time(keyfile, tmp_path):
    passwords = {}
    for user in ("admin", "countly"):
        passwords[user] = tmp_path / f"{user}-password"
        passwords[user].write_text(f"{user}-s3cret\n")
    env = {
        **keyfile,
        "MONGOS_HOST": "mongos.demo.svc.cluster.local:27017",
        "SHARDS": json.dumps([{"name": f"shard{i}", "hosts": [f"mongo-shard{i}-0:27017"]}
                              for i in range(2)]),
        "USERS": json.dumps([
            {"user": "admin", "db": "admin", "roles": [{"role": "root", "db": "admin"}],
             "passwordFile": str(passwords["admin"])},
            {"user": "countly", "db": "admin",
             "roles": [{"role": "readWrite", "db": "countly"}],
             "passwordFile": str(passwords["countly"])},
        ]),
        "SHARDED_DATABASES": json.dumps(["countly"]),
        "SHARDED_COLLECTIONS": json.dumps([{"ns": "countly.events_data",
                                            "key": {"_id": "hashed"}}]),
    }
    rc, commands, output = run_against_stub("cluster-init.js", env, tmp_path)
    assert rc == 0, output
    assert [c for c in commands if c in CHANGING_COMMANDS] == [
        "addShard!", "addShard!", "createUser!", "createUser!", "enableSharding!",
        "shardCollection!"]
    assert "createIndex:countly.events_data" in commands
    assert "the sharded cluster is initialised" in output

    rc, commands, output = run_against_stub("cluster-init.js", env, tmp_path)
    assert rc == 0, output
    assert "listShards" in commands
    assert not set(commands) & CHANGING_COMMANDS, output
    assert not [c for c in commands if c.startswith("createIndex")], output
    assert "user countly@admin is up to date" in output
    assert "countly.events_data is already sharded" in output

    # a changed password is the one thing a third run changes
    passwords["countly"].write_text("rotated\n")
    rc, commands, output = run_against_stub("cluster-init.js", env, tmp_path)
    assert rc == 0, output
    assert [c for c in commands if c in CHANGING_COMMANDS] == ["updateUser!"]
