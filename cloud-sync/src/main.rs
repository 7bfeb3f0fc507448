//! `cloud-sync`: parses the command line, then serves, migrates or administers. A bad flag or
//! setting exits with status 2 and says which; anything else that fails exits with status 1.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use cloud_sync::accounts::{account, audit, token};
use cloud_sync::config::{
    Cli, Command, Config, KeysCommand, PlayerCommand, PushCommand, ServiceTokenCommand,
    UserCommand, VenueCommand,
};
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
        (Command::ServiceToken(command), _) => service_token(command).await,
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
        (Command::User(UserCommand::CreateAdmin { email, db: flags }), _) => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let pool = migrated(&flags.database_url).await?;
            let (id, created) = account::create_admin(&pool, &email, password)
                .await
                .context("cannot create the administrator")?;
            println!("user_id: {id}");
            if created {
                eprintln!("cloud-sync: administrator created");
            } else {
                eprintln!("cloud-sync: existing account promoted to administrator");
            }
            Ok(())
        }
        (Command::Keys(KeysCommand::Rotate { db: flags }), _) => {
            let pool = migrated(&flags.database_url).await?;
            let kid = token::rotate(&pool).await.context("cannot add a key")?;
            key_audit(
                &pool,
                "keys.rotate",
                &format!("signing_key:{kid}"),
                serde_json::json!({}),
            )
            .await?;
            println!("kid: {kid}");
            eprintln!("cloud-sync: new key signs from now on; run `keys retire` after 10 minutes");
            Ok(())
        }
        (Command::Keys(KeysCommand::Retire { db: flags }), _) => {
            let pool = migrated(&flags.database_url).await?;
            let retired = token::retire_old(&pool)
                .await
                .context("cannot retire keys")?;
            key_audit(
                &pool,
                "keys.retire",
                "signing_keys",
                serde_json::json!({"retired": retired}),
            )
            .await?;
            println!("retired: {retired}");
            Ok(())
        }
    }
}

/// An audit entry for a key operation done from the command line.
async fn key_audit(
    pool: &sqlx::PgPool,
    action: &str,
    resource: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    audit::record(
        &mut conn,
        &audit::Entry {
            actor: None,
            action,
            resource,
            venue: None,
            addr: None,
            detail,
        },
    )
    .await
    .context("cannot write the audit entry")?;
    Ok(())
}

async fn service_token(command: ServiceTokenCommand) -> anyhow::Result<()> {
    use cloud_sync::accounts::service_tokens;
    match command {
        ServiceTokenCommand::Create { name, db: flags } => {
            let pool = migrated(&flags.database_url).await?;
            let (id, token) = service_tokens::create(&pool, &name)
                .await
                .context("cannot create the service token")?;
            println!("service_token_id: {id}");
            println!("service_token: {token}");
            eprintln!("cloud-sync: the token is shown only now; give it to the integration");
        }
        ServiceTokenCommand::List { db: flags } => {
            let pool = migrated(&flags.database_url).await?;
            for token in service_tokens::list(&pool).await? {
                let state = token
                    .revoked
                    .map_or_else(|| "live".to_owned(), |at| format!("revoked {at}"));
                println!("{}\t{}\t{}\t{state}", token.id, token.name, token.created);
            }
        }
        ServiceTokenCommand::Revoke { name, db: flags } => {
            let pool = migrated(&flags.database_url).await?;
            if !service_tokens::revoke(&pool, &name).await? {
                anyhow::bail!("no live service token named {name:?}");
            }
            println!("cloud-sync: service token {name:?} revoked");
        }
    }
    Ok(())
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
