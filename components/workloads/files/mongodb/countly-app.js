// Provisions the Countly application the benchmark writes to, under a key the stack generated,
// so Countly accepts `/i?app_key=<key>&device_id=...` instead of answering "App does not exist".
// Idempotent: the app is matched by its key and only ever inserted. Run by mongosh in a Job:
//   MONGODB_URI_FILE (a URI to mongos with Countly's user), APP_KEY_FILE, APP_NAME, DATABASE,
//   WAIT_SECONDS.

load(`${process.env.SCRIPTS_DIR}/lib.js`);

const uri = secretFile('MONGODB_URI_FILE');
const appKey = secretFile('APP_KEY_FILE');
const appName = env('APP_NAME');
const databaseName = env('DATABASE', 'countly');
const waitSeconds = Number(env('WAIT_SECONDS', '900'));

const connection = waitFor('mongos', waitSeconds, () => pinged(new Mongo(uri)));
const db = connection.getDB(databaseName);
const now = Math.floor(Date.now() / 1000);

// The fields Countly's own "create app" writes; an app without an owner is fine for writes.
const result = db.apps.updateOne(
  { key: appKey },
  {
    $setOnInsert: {
      name: appName,
      key: appKey,
      type: 'mobile',
      category: '6',
      country: 'US',
      timezone: 'Etc/UTC',
      created_at: now,
      edited_at: now,
      owner: '',
      seq: 0,
      has_image: false,
    },
  },
  { upsert: true },
);
const app = db.apps.findOne({ key: appKey });
if (!app) {
  fail('the app is not in the apps collection after the upsert');
}

// The per-app indexes Countly creates with a new app; createIndex leaves existing ones alone.
// (A plain loop: mongosh does not await shell calls made inside Array callbacks.)
const indexes = [
  ['app_users', { ls: -1 }], ['app_users', { uid: 1 }], ['app_users', { sc: 1 }],
  ['app_users', { lac: -1 }], ['app_users', { tsd: 1 }], ['app_users', { did: 1 }],
  ['metric_changes', { ts: 1, 'cc.o': 1 }], ['metric_changes', { uid: 1 }],
];
for (const [prefix, index] of indexes) {
  db.getCollection(`${prefix}${app._id}`).createIndex(index, { background: true });
}

log(result.upsertedCount === 1 ? `created app "${appName}" (${app._id})`
  : `app "${app.name}" (${app._id}) already exists`);
