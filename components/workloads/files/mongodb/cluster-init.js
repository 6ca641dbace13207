// Joins the shards to the cluster, creates its users and shards Countly's data, through mongos.
// Idempotent: each step looks first and changes only what differs. Run by mongosh in a Job:
//   MONGOS_HOST, SHARDS (JSON [{name, hosts}]), USERS (JSON [{user, db, roles, passwordFile}]),
//   SHARDED_DATABASES (JSON [name]), SHARDED_COLLECTIONS (JSON [{ns, key}]), KEYFILE_PATH,
//   WAIT_SECONDS.

load(`${process.env.SCRIPTS_DIR}/lib.js`);

const mongosHost = env('MONGOS_HOST');
const shards = JSON.parse(env('SHARDS'));
const users = JSON.parse(env('USERS'));
const shardedDatabases = JSON.parse(env('SHARDED_DATABASES', '[]'));
const shardedCollections = JSON.parse(env('SHARDED_COLLECTIONS', '[]'));
const waitSeconds = Number(env('WAIT_SECONDS', '900'));
const key = keyfileContent('KEYFILE_PATH');

const mongos = waitFor(`mongos at ${mongosHost}`, waitSeconds,
  () => pinged(connectAsCluster(mongosHost, key)));
const admin = mongos.getDB('admin');
const config = mongos.getDB('config');

function addShards() {
  const present = new Set(check(admin.runCommand({ listShards: 1 }), 'listShards').shards
    .map((shard) => shard._id));
  for (const shard of shards) {
    if (present.has(shard.name)) {
      log(`shard ${shard.name} is already part of the cluster`);
      continue;
    }
    const seed = `${shard.name}/${shard.hosts.join(',')}`;
    // A shard's replica set may still be electing when this runs after a restart.
    waitFor(`shard ${shard.name} to be added`, waitSeconds,
      () => check(admin.runCommand({ addShard: seed, name: shard.name }), `adding ${seed}`));
    log(`added shard ${seed}`);
  }
}

function sortedRoles(roles) {
  return JSON.stringify(roles.map((role) => `${role.db}.${role.role}`).sort());
}

function passwordWorks(spec, password) {
  try {
    const connection = new Mongo(mongoUri(mongosHost, { user: spec.user, password, db: spec.db }));
    pinged(connection);
    connection.close();
    return true;
  } catch (err) {
    return false;
  }
}

function ensureUser(spec) {
  const password = readSecret(spec.passwordFile);
  const db = mongos.getDB(spec.db);
  const existing = db.getUser(spec.user);
  if (!existing) {
    check(db.runCommand({ createUser: spec.user, pwd: password, roles: spec.roles }),
      `creating ${spec.user}`);
    log(`created user ${spec.user}@${spec.db}`);
    return;
  }
  const changes = {};
  if (sortedRoles(existing.roles) !== sortedRoles(spec.roles)) {
    changes.roles = spec.roles;
  }
  if (!passwordWorks(spec, password)) {
    changes.pwd = password;
  }
  if (Object.keys(changes).length === 0) {
    log(`user ${spec.user}@${spec.db} is up to date`);
    return;
  }
  check(db.runCommand({ updateUser: spec.user, ...changes }), `updating ${spec.user}`);
  log(`updated ${Object.keys(changes).join(' and ')} of ${spec.user}@${spec.db}`);
}

function enableSharding(name) {
  if (config.databases.findOne({ _id: name })) {
    log(`database ${name} already exists in the cluster`);
    return;
  }
  check(admin.runCommand({ enableSharding: name }), `enabling sharding for ${name}`);
  log(`enabled sharding for ${name}`);
}

function shardCollection(spec) {
  const existing = config.collections.findOne({ _id: spec.ns });
  if (existing && !existing.unsplittable) {
    if (JSON.stringify(existing.key) !== JSON.stringify(spec.key)) {
      log(`${spec.ns} is sharded by ${JSON.stringify(existing.key)}, not the wanted `
        + `${JSON.stringify(spec.key)}; left as it is`);
    } else {
      log(`${spec.ns} is already sharded`);
    }
    return;
  }
  const [database, ...rest] = spec.ns.split('.');
  mongos.getDB(database).getCollection(rest.join('.')).createIndex(spec.key);
  check(admin.runCommand({ shardCollection: spec.ns, key: spec.key }), `sharding ${spec.ns}`);
  log(`sharded ${spec.ns} by ${JSON.stringify(spec.key)}`);
}

// Plain loops: mongosh does not await shell calls made inside Array callbacks.
addShards();
for (const spec of users) {
  ensureUser(spec);
}
for (const name of shardedDatabases) {
  enableSharding(name);
}
for (const spec of shardedCollections) {
  shardCollection(spec);
}
log('the sharded cluster is initialised');
