//! Start-up, the composition root: opens SQLite (replaying the log), starts the store writer, sync,
//! MQTT, the engine, HTTP and (with `demo`) the simulated tables, wires them together in data-flow
//! order and hands back a [`Running`] agent. `main`, the integration tests and the benchmarks all
//! start the agent through [`start`]; nothing else in the crate reaches for its siblings this way.
//!
//! Shutdown is one `CancellationToken`: every task stops on it, then [`Running::stopped`] finishes
//! once the engine, HTTP and sync have stopped and the store writer has drained its queue.
//!
//! Before anything else the data folder is locked ([`crate::lock`]) until `stopped` finishes. In
//! `--demo`, taken HTTP and MQTT ports move to free ones (said in the log and in [`Running`]), and
//! cloud sync is off whatever the configuration says: demo data never syncs.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::config::MqttMode;
#[cfg(feature = "demo")]
use crate::demo;
use crate::devices::{self, Device, Devices};
use crate::engine::{Engine, EngineHandle, Timing};
use crate::hub::Hub;
use crate::lock::LockError;
use crate::metrics::Metrics;
use crate::network::Reach;
use crate::store::Reader;
use crate::{api, lock, mqtt, store, sync};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another agent holds the data folder.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// SQLite could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// MQTT could not be started or reached.
    #[error(transparent)]
    Mqtt(#[from] mqtt::MqttError),
    /// The device book could not be opened.
    #[error(transparent)]
    Devices(#[from] devices::DeviceError),
    /// The HTTP client for cloud sync could not be built.
    #[error("cannot set up cloud sync: {0}")]
    Cloud(reqwest::Error),
    /// The HTTP address is taken or invalid.
    #[error("cannot listen for HTTP on {addr}: {source}; choose another address with --http-addr")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running agent.
#[derive(Debug)]
pub struct Running {
    /// Where HTTP is served (the real port when 0 was asked for).
    pub http_addr: SocketAddr,
    /// Where the embedded broker listens (`None` with an external broker).
    pub mqtt_addr: Option<SocketAddr>,
    /// The URLs the venue's network can open.
    pub reach: Reach,
    /// Staff requests, as the API makes them.
    pub engine: EngineHandle,
    /// The fan-out hub.
    pub hub: Hub,
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// Read access to SQLite.
    pub reader: Reader,
    /// Provisioned devices: the broker's directory, kept equal to the device book.
    pub devices: Devices,
    /// Finishes when everything has stopped after `shutdown` (the store writer has drained).
    pub stopped: tokio::task::JoinHandle<()>,
}

/// Takes SIGXFSZ, so that a file-size limit (`ulimit -f`, systemd's `LimitFSIZE`) makes a write
/// fail with EFBIG, which the store writer reports and retries like a full disk, instead of
/// killing the agent.
fn ignore_file_size_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::from_raw(nix::libc::SIGXFSZ)) {
        Ok(mut signals) => {
            tokio::spawn(async move {
                while signals.recv().await.is_some() {
                    tracing::warn!(
                        "a file-size limit was reached (SIGXFSZ): writes fail until it is raised or space freed"
                    );
                }
            });
        }
        Err(error) => tracing::warn!(%error, "cannot take SIGXFSZ"),
    }
}

/// Starts everything: SQLite (replaying the log), MQTT, the engine, HTTP and, with `demo`, the
/// simulated tables. Returns once HTTP is listening.
///
/// The embedded broker lets in the devices of the device book (`DATA_DIR/devices.sqlite3`), or
/// anyone with `--allow-anonymous-devices`.
pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Running, StartError> {
    start_with_devices(config, Vec::new(), shutdown).await
}

/// [`start`], letting in `extra` devices besides the book's, kept in memory only (as the demo's
/// simulated devices are): for tests of the authenticated broker in this process.
pub async fn start_with_devices(
    mut config: Config,
    extra: Vec<Device>,
    shutdown: CancellationToken,
) -> Result<Running, StartError> {
    let data_lock = lock::lock(&config.data_dir)?;
    if config.demo && config.cloud.take().is_some() {
        tracing::warn!("--demo: cloud sync is off, demo data never syncs (drop --demo to sync)");
    }
    let data_dir = config.data_dir.clone();
    let (conn, recovered) = tokio::task::spawn_blocking(move || store::open(&data_dir))
        .await
        .map_err(|e| store::StoreError::Io {
            path: config.data_dir.clone(),
            source: std::io::Error::other(e),
        })??;
    if let Some(aside) = &recovered.moved_aside {
        tracing::error!(moved_to = %aside.display(), "a damaged database was moved aside; starting from an empty one");
    }
    // The pairing secret lives beside the database (docs/decisions/0009-phone-pairing.md).
    let pairing_secret =
        crate::pairing::Secret::load_or_create(&config.data_dir).map_err(|source| {
            store::StoreError::Io {
                path: config.data_dir.join(crate::pairing::SECRET_FILE),
                source,
            }
        })?;
    // Staff sessions are MACs with a key derived from the same secret (crate::staff).
    let staff_key = pairing_secret.derive(b"dojo staff sessions v1");
    let metrics = Arc::new(Metrics::new());
    let hub = Hub::new();
    let (publish_hub, batch_metrics, stage_metrics) =
        (hub.clone(), metrics.clone(), metrics.clone());
    let (store_tx, reader, writer) = store::spawn_writer(
        conn,
        &config.data_dir,
        move |views| {
            for view in views {
                stage_metrics.committed(view);
            }
            let committed = views.iter().find_map(|v| v.committed);
            publish_hub.publish(views);
            if let Some(committed) = committed {
                stage_metrics.stage_hub(committed.elapsed().as_secs_f64());
            }
        },
        move |events, took| {
            batch_metrics.commit_batch(events);
            batch_metrics.commit_seconds(took.as_secs_f64());
        },
    );
    let writer_status = store_tx.status().clone();
    metrics.register_counter(
        "dead_letters_trimmed",
        "Dead letters deleted by retention (age, rows, bytes)",
        writer_status.trimmed_counter(),
    );
    let health = Arc::new(crate::health::Health::new(
        &config.data_dir,
        crate::clock::now_ms(),
        // Devices heartbeat well within the presence timeout: silent for several of them is no
        // longer a device or two off, it is the agent not hearing the venue.
        (config.presence_timeout_ms * 4).max(10_000),
        store_tx.watch(),
        config.cloud.is_some(),
    ));
    ignore_file_size_signal();
    let roster_reader = reader.clone();
    let roster = tokio::task::spawn_blocking(move || roster_reader.staff())
        .await
        .map_err(|e| store::StoreError::Io {
            path: config.data_dir.clone(),
            source: std::io::Error::other(e),
        })??;
    let staff_desk = Arc::new(crate::staff::Desk::new(staff_key, roster));
    // The engine is made after the sync task starts; the sync task imports planned tournaments
    // through it once it is here.
    let engine_slot: Arc<std::sync::OnceLock<crate::engine::EngineHandle>> = Arc::default();
    let sync_task = match &config.cloud {
        Some(cloud) => {
            let sync = sync::Sync::new(
                cloud.clone(),
                recovered.epoch.clone(),
                sync::SyncOptions {
                    max_backoff: std::time::Duration::from_millis(cloud.max_backoff_ms),
                    keep_sent: std::time::Duration::from_secs(
                        u64::from(cloud.keep_sent_days) * 86_400,
                    ),
                    ..sync::SyncOptions::default()
                },
                reader.clone(),
                store_tx.clone(),
                metrics.clone(),
            )
            .map_err(StartError::Cloud)?
            .report_to(health.clone())
            .staff_to(staff_desk.clone())
            .tournaments_to(engine_slot.clone());
            Some(tokio::spawn(sync.run(shutdown.clone())))
        }
        None => {
            tracing::info!(
                "no --cloud-url: running offline; the outbox is kept until sync is configured"
            );
            None
        }
    };
    let embedded = matches!(config.mqtt, MqttMode::Embedded { .. });
    // The demo's simulated devices get fresh credentials each run, in memory only.
    #[cfg(feature = "demo")]
    let (demo_devices, demo_logins) = if config.demo && embedded {
        demo::provision(&demo_tables(&config))
    } else {
        (Vec::new(), demo::Logins::default())
    };
    #[cfg(not(feature = "demo"))]
    let demo_devices = Vec::new();
    let mut extra = extra;
    extra.extend(demo_devices);
    let (devices_dir, anonymous) = (config.data_dir.clone(), config.allow_anonymous_devices);
    let devices = tokio::task::spawn_blocking(move || {
        Devices::load(&devices_dir, anonymous, embedded, extra)
    })
    .await
    .map_err(|e| store::StoreError::Io {
        path: config.data_dir.clone(),
        source: std::io::Error::other(e),
    })??;
    match (embedded, anonymous) {
        (true, true) => tracing::warn!(
            "--allow-anonymous-devices: the embedded broker lets ANY device connect without credentials and speak for any table; a lab bench only, never a venue's network"
        ),
        (true, false) => tracing::info!(
            devices = devices.directory().ids().len(),
            "the embedded broker lets in provisioned devices only (edge-agent device add DEVICE --table T)"
        ),
        (false, _) => tracing::info!(
            "external broker: it decides which devices connect; the device book is not used"
        ),
    }
    tokio::spawn(devices.clone().watch(shutdown.clone()));
    let directory = devices.directory().clone();
    let link = match mqtt::connect(&config.mqtt, &directory, shutdown.clone()).await {
        Err(mqtt::MqttError::AddrInUse { addr }) if config.demo => {
            let free = free_port(addr)?;
            tracing::warn!(taken = %addr, moved_to = %free, "--demo: the MQTT port is taken; the embedded broker listens on a free one");
            config.mqtt = MqttMode::Embedded { listen: free };
            mqtt::connect(&config.mqtt, &directory, shutdown.clone()).await?
        }
        connected => connected?,
    };
    let timing = Timing {
        shot_quiet_ms: config.shot_quiet_ms,
        presence_timeout_ms: config.presence_timeout_ms,
        table_lights: config.table_lights,
        camera_shot_timeout_ms: config.camera_shot_timeout_ms,
        demo: config.demo,
        call_timeout_ms: config.call_timeout_ms,
    };
    let (mut engine, handle, views) = Engine::recover(
        recovered,
        store_tx,
        hub.clone(),
        metrics.clone(),
        link.commands.clone(),
        timing,
    );
    hub.publish(&views);
    engine.report_to(health.clone());
    let notices = crate::notices::Notices::new();
    engine.notices_to(notices.clone());
    let _ = engine_slot.set(handle.clone());
    let mut declared = config.tables.clone();
    if config.demo {
        declared.extend(demo_tables(&config));
    }
    engine.declare(&declared);
    let listener = match tokio::net::TcpListener::bind(config.http_addr).await {
        Err(error) if config.demo && error.kind() == std::io::ErrorKind::AddrInUse => {
            let mut free = config.http_addr;
            free.set_port(0);
            let listener = tokio::net::TcpListener::bind(free)
                .await
                .map_err(|source| StartError::Http { addr: free, source })?;
            if let Ok(moved) = listener.local_addr() {
                tracing::warn!(taken = %config.http_addr, moved_to = %moved, "--demo: the HTTP port is taken; serving on a free one");
            }
            listener
        }
        bound => bound.map_err(|source| StartError::Http {
            addr: config.http_addr,
            source,
        })?,
    };
    let http_addr = listener.local_addr().map_err(|source| StartError::Http {
        addr: config.http_addr,
        source,
    })?;
    let reach = Reach::of(http_addr);
    tracing::info!("{}", reach.advice());
    let state = api::AppState {
        engine: handle.clone(),
        hub: hub.clone(),
        reader: reader.clone(),
        metrics: metrics.clone(),
        staff_token: config.staff_token.clone(),
        staff_guard: Arc::default(),
        venue: config.venue.clone(),
        cloud_url: config.cloud.as_ref().map(|c| c.url.clone()),
        phones: Arc::new(api::Phones::new(pairing_secret)),
        notices,
        reach: reach.clone(),
        devices: devices.clone(),
        health: Some(health.clone()),
        staff: staff_desk.clone(),
    };
    if config.ws_direct_writes {
        api::spawn_direct_writers(&hub, &metrics);
    }
    let engine_task = tokio::spawn(engine.run(link.inbound, shutdown.clone()));
    let http_task = tokio::spawn(api::serve(listener, state, shutdown.clone()));
    #[cfg(feature = "demo")]
    if config.demo {
        let broker = demo::DemoBroker::for_mode(&config.mqtt)?.with_logins(demo_logins);
        tokio::spawn(demo::run(
            broker,
            handle.clone(),
            demo_tables(&config),
            shutdown.clone(),
        ));
    }
    let stop_hub = hub.clone();
    let stopped = tokio::spawn(async move {
        let _ = engine_task.await;
        stop_hub.close();
        let _ = http_task.await;
        if let Some(task) = sync_task {
            let _ = task.await;
        }
        // The engine and the sync task dropped its store sender; the writer drains what is queued and exits.
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        // Only now may another agent open the folder.
        drop(data_lock);
    });
    tracing::info!(%http_addr, "edge-agent serving");
    let mqtt_addr = match &config.mqtt {
        MqttMode::Embedded { listen } => Some(*listen),
        MqttMode::External { .. } => None,
    };
    Ok(Running {
        http_addr,
        mqtt_addr,
        reach,
        engine: handle,
        hub,
        metrics,
        reader,
        devices,
        stopped,
    })
}

/// A free port on `addr`'s address (the system picks it), for the embedded broker in `--demo`.
fn free_port(addr: SocketAddr) -> Result<SocketAddr, StartError> {
    let mut any = addr;
    any.set_port(0);
    std::net::TcpListener::bind(any)
        .and_then(|probe| probe.local_addr())
        .map_err(|source| {
            StartError::Mqtt(mqtt::MqttError::Other(format!(
                "cannot find a free port for the embedded broker on {}: {source}",
                addr.ip()
            )))
        })
}

/// The demo's tables: `table-1`, `table-2`, …
fn demo_tables(config: &Config) -> Vec<String> {
    (1..=config.demo_tables)
        .map(|n| format!("table-{n}"))
        .collect()
}
