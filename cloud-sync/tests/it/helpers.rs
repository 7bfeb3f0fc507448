//! Spawning the real service for a test: its own PostgreSQL database (created through the
//! `postgres` database, dropped when the test ends, even on panic), its own Redis key prefix on the
//! machine's Redis, an ephemeral loopback port. Tests then talk HTTP like a venue would.

use std::io::Write as _;

use cloud_sync::infra::db;
use cloud_sync::{Config, Running, venues};
use dojo_testkit::postgres::ScratchDb;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::PgPool;

/// The machine's PostgreSQL (trust auth).
pub(crate) const PG: &str = "postgres://postgres@127.0.0.1:5432";
/// The machine's Redis.
pub(crate) const REDIS: &str = "redis://127.0.0.1:6379/";

/// 64 random bits as hex.
pub(crate) fn random_hex() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A database of one test, dropped when the test ends (even on panic).
pub(crate) type TestDb = ScratchDb;

/// A fresh database on the server at `server` (a URL without a database).
pub(crate) async fn test_db(server: &str) -> TestDb {
    ScratchDb::create(server, "dojo_t")
        .await
        .expect("PostgreSQL reachable")
}

/// A running instance with one enrolled venue.
#[derive(Debug)]
pub(crate) struct App {
    /// The instance.
    pub(crate) running: Option<Running>,
    /// `http://addr`.
    pub(crate) base: String,
    /// A pool on the same database, for checking what is stored.
    pub(crate) pool: PgPool,
    /// The enrolled venue.
    pub(crate) venue: String,
    /// Its key.
    pub(crate) key: String,
    /// HTTP client.
    pub(crate) http: reqwest::Client,
    /// The Redis prefix of this test.
    pub(crate) prefix: String,
    /// The database (dropped last).
    pub(crate) db: TestDb,
}

/// The default test configuration on `db` with the machine's Redis and a fresh prefix.
pub(crate) fn config(db: &TestDb) -> Config {
    let mut config = Config::new(db.url.clone(), Some(REDIS.into()));
    config.redis_prefix = format!("t{}", random_hex());
    config
}

/// An instance on a fresh database with the machine's Redis.
pub(crate) async fn spawn_app() -> App {
    let db = test_db(PG).await;
    let config = config(&db);
    spawn_with(db, config).await
}

/// An instance on `db` with `config`, and a venue enrolled.
pub(crate) async fn spawn_with(db: TestDb, config: Config) -> App {
    let prefix = config.redis_prefix.clone();
    let running = cloud_sync::start(config).await.expect("starts");
    let pool = db::connect_with(&db.url, 4).await.expect("pool");
    let (venue, key) = venues::create_venue(&pool, "Test Hall")
        .await
        .expect("venue");
    App {
        base: format!("http://{}", running.addr()),
        running: Some(running),
        pool,
        venue,
        key,
        http: reqwest::Client::new(),
        prefix,
        db,
    }
}

/// An answer: status, JSON body (or `null`), headers.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) headers: HeaderMap,
}

impl App {
    /// `http://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the instance.
    pub(crate) async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// POSTs a batch body with `key`.
    pub(crate) async fn post_raw(&self, key: Option<&str>, body: Vec<u8>, gzip: bool) -> Answer {
        post_raw(&self.http, &self.base, key, body, gzip).await
    }

    /// POSTs `batch` with this venue's key.
    pub(crate) async fn post(&self, batch: &Value) -> Answer {
        self.post_raw(Some(&self.key), batch.to_string().into_bytes(), false)
            .await
    }

    /// GET `path` (with this venue's key as bearer when `auth`).
    pub(crate) async fn get(&self, path: &str, auth: bool) -> Answer {
        let mut request = self.http.get(self.url(path));
        if auth {
            request = request.bearer_auth(&self.key);
        }
        answer(request.send().await.expect("GET answered")).await
    }

    /// Waits (at most 5 s) until every acknowledged record is projected into matches, racks and
    /// statistics: reads lag the acknowledgement by the projection.
    pub(crate) async fn projected(&self) {
        assert!(
            cloud_sync::projection::wait_caught_up(&self.pool, std::time::Duration::from_secs(5))
                .await
                .expect("projection lag"),
            "the projection did not catch up within 5 s"
        );
    }

    /// GET `path` (open) until `ready` holds for the answer, at most 5 s: a read right after a
    /// sync waits for the projection (and its cache invalidation, which follows its commit).
    pub(crate) async fn get_until(&self, path: &str, ready: impl Fn(&Answer) -> bool) -> Answer {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let answer = self.get(path, false).await;
            if ready(&answer) || tokio::time::Instant::now() >= deadline {
                return answer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Makes registered player `id`'s profile public (what its owner's privacy switch does), so
    /// anonymous reads show it.
    pub(crate) async fn make_public(&self, id: &str) {
        sqlx::query("UPDATE players SET public = true WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .expect("public");
    }

    /// How many rows `sql` counts.
    pub(crate) async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// A batch of this venue.
    pub(crate) fn batch(&self, epoch: &str, records: Vec<Value>) -> Value {
        json!({"venue_id": self.venue, "epoch": epoch, "records": records})
    }
}

/// POSTs a batch body to `base`.
pub(crate) async fn post_raw(
    http: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    body: Vec<u8>,
    gzip: bool,
) -> Answer {
    let mut request = http
        .post(format!("{base}/api/v1/sync/batches"))
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let body = if gzip {
        request = request.header("content-encoding", "gzip");
        gzip_bytes(&body)
    } else {
        body
    };
    answer(request.body(body).send().await.expect("POST answered")).await
}

/// Reads an answer.
pub(crate) async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        headers,
    }
}

/// Gzip-compresses.
pub(crate) fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("compress");
    encoder.finish().expect("compress")
}

/// Records as edge-agent writes them.
pub(crate) mod rec {
    use serde_json::{Value, json};

    fn stats(racks_won: u32) -> Value {
        json!({"racks_won": racks_won, "balls_pocketed": 3 * racks_won, "fouls": 1,
               "break_and_runs": 0, "breaks_with_ball": racks_won, "safeties": 2,
               "innings": 4 + racks_won, "high_run": 2 + racks_won})
    }

    /// `match_started` with registered players `ids`.
    pub(crate) fn started_with(seq: u64, mid: &str, ids: [Option<&str>; 2]) -> Value {
        json!({"seq": seq, "kind": "match_started", "match_id": mid,
               "payload": {"match_id": mid, "table": "t3", "started_ms": 1_795_000_000_000u64,
                           "spec": {"game": "nine-ball", "players": ["Ann", "Bo"], "race_to": 2},
                           "player_ids": ids}})
    }

    /// `match_started`.
    pub(crate) fn started(seq: u64, mid: &str) -> Value {
        started_with(seq, mid, [None, None])
    }

    /// `rack_finished`: rack `ordinal` won by `winner`, score after it `score`.
    pub(crate) fn rack(seq: u64, mid: &str, ordinal: u32, winner: usize, score: [i32; 2]) -> Value {
        json!({"seq": seq, "kind": "rack_finished", "match_id": mid,
               "payload": {"match_id": mid, "table": "t3", "ordinal": ordinal, "rack": ordinal,
                           "winner": winner, "score": score,
                           "stats": [stats(u32::try_from(score[0]).unwrap_or(0)),
                                     stats(u32::try_from(score[1]).unwrap_or(0))],
                           "shots": [{"shot": {"first_contact": 1, "pocketed": [{"ball": 1, "pocket": 3}]}}, {"action": "pass"}]}})
    }

    /// `match_finished`.
    pub(crate) fn finished(seq: u64, mid: &str, winner: usize, score: [i32; 2]) -> Value {
        json!({"seq": seq, "kind": "match_finished", "match_id": mid,
               "payload": {"match_id": mid, "table": "t3", "game": "nine-ball",
                           "players": ["Ann", "Bo"], "race_to": 2, "winner": winner,
                           "score": score,
                           "stats": [stats(u32::try_from(score[0]).unwrap_or(0)),
                                     stats(u32::try_from(score[1]).unwrap_or(0))],
                           "inputs": []}})
    }

    /// `result_corrected`.
    pub(crate) fn corrected(seq: u64, mid: &str, score: [i32; 2], racks: u32, over: bool) -> Value {
        json!({"seq": seq, "kind": "result_corrected", "match_id": mid,
               "payload": {"match_id": mid, "table": "t3", "score": score,
                           "racks_finished": racks, "match_finished": over}})
    }

    /// A whole match from `seq`: start, two racks to seat 0, the finish (4 records).
    pub(crate) fn whole_match(seq: u64, mid: &str) -> Vec<Value> {
        vec![
            started(seq, mid),
            rack(seq + 1, mid, 1, 0, [1, 0]),
            rack(seq + 2, mid, 2, 0, [2, 0]),
            finished(seq + 3, mid, 0, [2, 0]),
        ]
    }
}

/// The sum of the metric lines named `name` at `base`/metrics.
pub(crate) async fn metric(http: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A person with an account, made directly in the database, and an access token minted with the
/// service's own keys (what signing in would give; the sign-in itself is tested in `accounts`).
#[derive(Clone, Debug)]
pub(crate) struct Persona {
    /// The user id.
    pub(crate) id: String,
    /// A valid access token.
    pub(crate) token: String,
}

impl App {
    /// A user with `grants` (role, venue), verified or not, and an access token.
    pub(crate) async fn persona(
        &self,
        name: &str,
        verified: bool,
        grants: &[(cloud_sync::accounts::Role, Option<&str>)],
    ) -> Persona {
        use cloud_sync::accounts::Grant;
        use cloud_sync::accounts::token::{Claims, Keys};
        let id = cloud_sync::infra::ids::new_id();
        let email = format!("{name}-{}@example.test", &id[..8]);
        sqlx::query(
            "INSERT INTO users (id, email, email_key, display_name, password_hash,
                                email_verified_at)
             VALUES ($1, $2, lower($2), $3, NULL, CASE WHEN $4 THEN now() END)",
        )
        .bind(&id)
        .bind(&email)
        .bind(name)
        .bind(verified)
        .execute(&self.pool)
        .await
        .expect("user");
        for (role, venue) in grants {
            sqlx::query("INSERT INTO user_roles (user_id, role, venue_id) VALUES ($1, $2, $3)")
                .bind(&id)
                .bind(role.as_str())
                .bind(venue)
                .execute(&self.pool)
                .await
                .expect("role");
        }
        let keys = Keys::load(self.pool.clone()).await.expect("keys");
        let token = keys
            .issue(Claims {
                iss: String::new(),
                aud: String::new(),
                sub: id.clone(),
                exp: 0,
                iat: 0,
                sid: cloud_sync::infra::ids::new_id(),
                email_verified: verified,
                roles: grants
                    .iter()
                    .map(|(role, venue)| Grant {
                        role: *role,
                        venue_id: venue.map(str::to_owned),
                    })
                    .collect(),
            })
            .await
            .expect("token");
        Persona { id, token }
    }

    /// `method path` with `bearer` (any token or key) and a JSON `body`.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request.send().await.expect("answered")).await
    }
}
