// Initiates one replica set, or completes it when members were added; changes nothing when the
// set already matches. Run by mongosh in a one-shot Job:
//   RS_NAME, RS_HOSTS (host:port,...), RS_CONFIGSVR (true|false), KEYFILE_PATH, WAIT_SECONDS.

load(`${process.env.SCRIPTS_DIR}/lib.js`);

const NOT_YET_INITIALIZED = 94;

const setName = env('RS_NAME');
const hosts = env('RS_HOSTS').split(',');
const configServer = env('RS_CONFIGSVR', 'false') === 'true';
const waitSeconds = Number(env('WAIT_SECONDS', '900'));
const key = keyfileContent('KEYFILE_PATH');

function replicaSetStatus(connection) {
  return command(connection.getDB('admin'), { replSetGetStatus: 1 });
}

function initiate(first) {
  const config = {
    _id: setName,
    configsvr: configServer,
    members: hosts.map((host, index) => ({ _id: index, host })),
  };
  check(first.getDB('admin').runCommand({ replSetInitiate: config }), `initiating ${setName}`);
  log(`initiated ${setName} with ${hosts.join(', ')}`);
}

function primaryOf(connections) {
  return waitFor(`a primary in ${setName}`, waitSeconds, () => {
    for (const connection of connections) {
      const hello = connection.getDB('admin').runCommand({ hello: 1 });
      if (hello.setName === setName && hello.isWritablePrimary) {
        return connection;
      }
    }
    return null;
  });
}

// Safe reconfiguration adds one voting member at a time, each once the previous one is in.
function addMissingMembers(connections) {
  for (;;) {
    const primary = primaryOf(connections);
    const admin = primary.getDB('admin');
    const config = check(admin.runCommand({ replSetGetConfig: 1 }), 'reading the config').config;
    const known = new Set(config.members.map((member) => member.host));
    const missing = hosts.filter((host) => !known.has(host));
    const extra = [...known].filter((host) => !hosts.includes(host));
    if (extra.length > 0) {
      log(`left in place (never removed by this job): ${extra.join(', ')}`);
    }
    if (missing.length === 0) {
      return;
    }
    const nextId = Math.max(...config.members.map((member) => member._id)) + 1;
    config.members.push({ _id: nextId, host: missing[0] });
    config.version += 1;
    // refused while the previous configuration is still being committed: ask again
    waitFor(`${setName} to accept ${missing[0]}`, waitSeconds,
      () => check(admin.runCommand({ replSetReconfig: config }), `adding ${missing[0]}`));
    log(`added ${missing[0]} to ${setName}`);
    waitFor(`${missing[0]} to join ${setName}`, waitSeconds, () => {
      const status = replicaSetStatus(primary);
      const member = (status.members || []).find((candidate) => candidate.name === missing[0]);
      return member && ['PRIMARY', 'SECONDARY'].includes(member.stateStr);
    });
  }
}

// Every member must answer first: a config naming a host that is not up yet cannot be applied.
// (Plain loops throughout: mongosh does not await shell calls inside Array callbacks.)
const connections = [];
for (const host of hosts) {
  connections.push(waitFor(`member ${host}`, waitSeconds,
    () => pinged(connectAsCluster(host, key))));
}

const statuses = [];
for (const connection of connections) {
  statuses.push(replicaSetStatus(connection));
}
const initiated = statuses.filter((status) => status.ok === 1);
const unexpected = statuses.find((status) => status.ok !== 1 && status.code !== NOT_YET_INITIALIZED);
if (unexpected) {
  fail(`cannot read the state of ${setName}: ${JSON.stringify(unexpected)}`);
}

if (initiated.length === 0) {
  initiate(connections[0]);
} else {
  log(`${setName} is already initiated`);
}
addMissingMembers(connections);
log(`${setName} has a primary and all ${hosts.length} member(s)`);
