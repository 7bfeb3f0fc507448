//! `cloud-sync`: parses the command line, then serves, migrates or administers. A bad flag or
//! setting exits with status 2 and says which; anything else that fails exits with status 1.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use cloud_sync::config::{Cli, Command, Config, PlayerCommand, PushCommand, VenueCommand};
use cloud_sync::infra::db;
use cloud_sync::{players, venues};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { 2 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let config = match &cli.command {
        Command::Serve(flags) => match Config::from_flags(flags.clone()) {
            Ok(config) => Some(config),
            Err(error) => {
                eprintln!("cloud-sync: {error}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cloud-sync: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cloud-sync: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Option<Config>) -> anyhow::Result<()> {
    match (command, config) {
        (Command::Serve(_), Some(config)) => serve(config).await,
        (Command::Serve(_), None) => anyhow::bail!("no configuration"),
        (Command::Migrate(flags), _) => {
            let pool = db::connect(&flags.database_url).await?;
            db::migrate(&pool).await?;
            println!("cloud-sync: database is up to date");
            Ok(())
        }
        (Command::Venue(VenueCommand::Create { name, db: flags }), _) => {
            let pool = migrated(&flags.database_url).await?;
            let (id, key) = venues::create_venue(&pool, &name)
                .await
                .context("cannot create the venue")?;
            println!("venue_id: {id}");
            println!("venue_key: {key}");
            eprintln!("cloud-sync: the key is shown only now; give it to the venue's edge-agent");
            Ok(())
        }
        (
            Command::Venue(VenueCommand::AddKey {
                venue_id,
                db: flags,
            }),
            _,
        ) => {
            let pool = migrated(&flags.database_url).await?;
            let key = venues::add_venue_key(&pool, &venue_id)
                .await
                .context("cannot add a key")?
                .with_context(|| format!("no venue {venue_id}"))?;
            println!("venue_key: {key}");
            Ok(())
        }
        (Command::Venue(VenueCommand::RevokeKey { db: flags }), _) => {
            let mut key = String::new();
            std::io::stdin()
                .read_line(&mut key)
                .context("cannot read the key from standard input")?;
            let pool = migrated(&flags.database_url).await?;
            if !venues::revoke_venue_key(&pool, key.trim()).await? {
                anyhow::bail!("no such key");
            }
            println!("cloud-sync: key revoked");
            Ok(())
        }
        (
            Command::Player(PlayerCommand::Create {
                name,
                rating,
                db: flags,
            }),
            _,
        ) => {
            let pool = migrated(&flags.database_url).await?;
            let player = players::create_player(&pool, &name, rating)
                .await
                .context("cannot create the player")?;
            println!("{}", player.id);
            Ok(())
        }
        (Command::Player(PlayerCommand::Delete { id, db: flags }), _) => {
            let pool = migrated(&flags.database_url).await?;
            if !players::delete_player(&pool, &id)
                .await
                .context("cannot delete the player")?
            {
                anyhow::bail!("no player {id}");
            }
            Ok(())
        }
        (Command::Player(PlayerCommand::Compact { db: flags }), _) => {
            let pool = migrated(&flags.database_url).await?;
            let floor = players::compact_player_log(&pool).await?;
            println!("cloud-sync: player change log compacted up to version {floor}");
            Ok(())
        }
        (Command::Push(PushCommand::Keygen { rotate, db: flags }), _) => {
            let pool = migrated(&flags.database_url).await?;
            let (public_key, new) = cloud_sync::notifications::push::keygen(&pool, rotate)
                .await
                .context("cannot store the VAPID key")?;
            println!("vapid_public_key: {public_key}");
            if !new {
                eprintln!("cloud-sync: a VAPID key pair exists; kept (--rotate replaces it)");
            }
            Ok(())
        }
    }
}

async fn migrated(url: &str) -> anyhow::Result<sqlx::PgPool> {
    let pool = db::connect_with(url, 2).await?;
    db::migrate(&pool).await?;
    Ok(pool)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = cloud_sync::start(config).await?;
    println!("cloud-sync: serving on http://{}/", running.addr());
    wait_for_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
