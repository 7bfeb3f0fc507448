use crate::link::local::{LinkError, LinkRx, LinkTx};
use crate::link::network;
use crate::link::network::Network;
use crate::local::LinkBuilder;
use crate::protocol::{
    ConnAck, Connect, ConnectReturnCode, Login, Packet, Protocol, PubAck, PubAckReason, QoS,
    SubAck, SubscribeReasonCode,
};
use crate::router::{Event, Notification};
use crate::{ConnectInfo, ConnectionId, ConnectionSettings, PublishFilter, PublishInfo};
use crate::{SubscribeFilter};

use flume::{RecvError, SendError, Sender, TrySendError};
use std::cmp::min;
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::error::Elapsed;
use tokio::{select, time};
use tracing::{trace, Span};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O")]
    Io(#[from] io::Error),
    #[error("Zero keep alive")]
    ZeroKeepAlive,
    #[error("Not connect packet")]
    NotConnectPacket(Packet),
    #[error("Network {0}")]
    Network(#[from] network::Error),
    #[error("Timeout")]
    Timeout(#[from] Elapsed),
    #[error("Channel send error")]
    Send(#[from] SendError<(ConnectionId, Event)>),
    #[error("Channel recv error")]
    Recv(#[from] RecvError),
    #[error("Got new session, disconnecting old one")]
    SessionEnd,
    #[error("Persistent session requires valid client id")]
    InvalidClientId,
    #[error("Unexpected router message")]
    NotConnectionAck,
    #[error("ConnAck error {0}")]
    ConnectionAck(String),
    #[error("Authentication error")]
    InvalidAuth,
    #[error("Channel try send error")]
    TrySend(#[from] TrySendError<(ConnectionId, Event)>),
    #[error("Link error = {0}")]
    Link(#[from] LinkError),
    /// DOJO PATCH (hooks): the connect filter refused the CONNECT (a CONNACK with the code was sent).
    #[error("Connection refused: {0:?}")]
    Refused(ConnectReturnCode),
    /// DOJO PATCH (hooks): a refused QoS 2 publish (it cannot be acknowledged without routing).
    #[error("Refused QoS 2 publish")]
    RefusedQoS2,
}

/// Orchestrates between Router and Network.
pub struct RemoteLink<P> {
    connect: Connect,
    pub(crate) connection_id: ConnectionId,
    network: Network<P>,
    link_tx: LinkTx,
    link_rx: LinkRx,
    notifications: VecDeque<Notification>,
    pub(crate) will_delay_interval: u32,
    /// DOJO PATCH (hooks): the client's id and username, and the hooks that screen its packets.
    client_id: String,
    username: Option<String>,
    publish_filter: Option<PublishFilter>,
    subscribe_filter: Option<SubscribeFilter>,
}

impl<P: Protocol> RemoteLink<P> {
    pub async fn new(
        router_tx: Sender<(ConnectionId, Event)>,
        tenant_id: Option<String>,
        mut network: Network<P>,
        connect_packet: Packet,
        config: &ConnectionSettings,
        assigned_client_id: Option<String>,
    ) -> Result<RemoteLink<P>, Error> {
        let dynamic_filters = config.dynamic_filters;
        let Packet::Connect(connect, props, lastwill, lastwill_props, login) = connect_packet else {
            return Err(Error::NotConnectPacket(connect_packet));
        };
        // DOJO PATCH (hooks): keep who this is for the publish and subscribe filters.
        let username = login.map(|l| l.username);

        // Register this connection with the router. Router replys with ack which if ok will
        // start the link. Router can sometimes reject the connection (ex max connection limit)
        let client_id = assigned_client_id.as_ref().unwrap_or(&connect.client_id);
        let clean_session = connect.clean_session;

        let topic_alias_max = props.as_ref().and_then(|p| p.topic_alias_max);
        let session_expiry = props
            .as_ref()
            .and_then(|p| p.session_expiry_interval)
            .unwrap_or(0);

        let delay_interval = lastwill_props
            .as_ref()
            .and_then(|f| f.delay_interval)
            .unwrap_or(0);

        // The Server delays publishing the Client’s Will Message until
        // the Will Delay Interval has passed or the Session ends, whichever happens first
        let will_delay_interval = min(session_expiry, delay_interval);

        let built = LinkBuilder::new(client_id, router_tx)
            .tenant_id(tenant_id)
            .clean_session(clean_session)
            .last_will(lastwill)
            .last_will_properties(lastwill_props)
            .dynamic_filters(dynamic_filters)
            .topic_alias_max(topic_alias_max.unwrap_or(0))
            .build();
        // DOJO PATCH (refuse cleanly): the router drops a connection it has no room for (its
        // `max_connections`) without an answer; tell the client with a CONNACK "server
        // unavailable" instead of a bare close, so it backs off like for any refusal.
        let (link_tx, link_rx, notification) = match built {
            Ok(built) => built,
            Err(e) => {
                let ack = ConnAck {
                    session_present: false,
                    code: ConnectReturnCode::ServiceUnavailable,
                };
                network.write(Packet::ConnAck(ack, None)).await.ok();
                return Err(e.into());
            }
        };
        let client_id = client_id.to_owned();

        let id = link_rx.id();
        Span::current().record("connection_id", id);

        if let Some(mut packet) = notification.into() {
            if let Packet::ConnAck(_ack, props) = &mut packet {
                let mut new_props = props.clone().unwrap_or_default();
                new_props.assigned_client_identifier = assigned_client_id;
                *props = Some(new_props);
                network.write(packet).await?;
            }
        }

        Ok(RemoteLink {
            connect,
            connection_id: id,
            network,
            link_tx,
            link_rx,
            notifications: VecDeque::with_capacity(100),
            will_delay_interval,
            client_id,
            username,
            publish_filter: config.publish_filter.clone(),
            subscribe_filter: config.subscribe_filter.clone(),
        })
    }

    /// DOJO PATCH (hooks): passes on the packets the filters allow; answers the refused ones
    /// itself (a PUBACK for a refused QoS 1 publish, a SUBACK of failures for a refused
    /// SUBSCRIBE) so the client does not resend them.
    fn screen(&self, packets: &mut VecDeque<Packet>) -> Result<VecDeque<Packet>, Error> {
        let mut answers = VecDeque::new();
        if self.publish_filter.is_none() && self.subscribe_filter.is_none() {
            return Ok(answers);
        }
        let mut kept = VecDeque::with_capacity(packets.len());
        for packet in packets.drain(..) {
            match &packet {
                Packet::Publish(publish, _) => {
                    if let Some(filter) = &self.publish_filter {
                        let info = PublishInfo {
                            client_id: &self.client_id,
                            username: self.username.as_deref(),
                            topic: &publish.topic,
                            payload: &publish.payload,
                            retain: publish.retain,
                        };
                        if !filter(&info) {
                            match publish.qos {
                                QoS::AtMostOnce => {}
                                QoS::AtLeastOnce => answers.push_back(Packet::PubAck(
                                    PubAck {
                                        pkid: publish.pkid,
                                        reason: PubAckReason::NotAuthorized,
                                    },
                                    None,
                                )),
                                QoS::ExactlyOnce => return Err(Error::RefusedQoS2),
                            }
                            continue;
                        }
                    }
                }
                Packet::Subscribe(subscribe, _) => {
                    if let Some(filter) = &self.subscribe_filter {
                        let refused = subscribe.filters.iter().any(|f| {
                            !filter(&self.client_id, self.username.as_deref(), &f.path)
                        });
                        if refused {
                            let return_codes = subscribe
                                .filters
                                .iter()
                                .map(|_| SubscribeReasonCode::Failure)
                                .collect();
                            answers.push_back(Packet::SubAck(
                                SubAck {
                                    pkid: subscribe.pkid,
                                    return_codes,
                                },
                                None,
                            ));
                            continue;
                        }
                    }
                }
                _ => {}
            }
            kept.push_back(packet);
        }
        *packets = kept;
        Ok(answers)
    }

    pub async fn start(&mut self) -> Result<(), Error> {
        self.network.set_keepalive(self.connect.keep_alive);

        // Note:
        // Shouldn't result in bounded queue deadlocks because of blocking n/w send
        loop {
            select! {
                o = self.network.read() => {
                    let packet = o?;
                    // DOJO PATCH (hooks): read into a local batch, screen it, then hand the
                    // allowed packets to the router.
                    let mut batch = VecDeque::new();
                    batch.push_back(packet);
                    self.network.readv(&mut batch)?;
                    let answers = self.screen(&mut batch)?;
                    if !answers.is_empty() {
                        self.network.writev(answers).await?;
                    }
                    if batch.is_empty() {
                        continue;
                    }
                    let len = {
                        let mut buffer = self.link_tx.buffer();
                        buffer.extend(batch);
                        buffer.len()
                    };

                    trace!("Packets read from network, count = {}", len);
                    self.link_tx.notify().await?;
                }
                // Receive from router when previous when state isn't in collision
                // due to previously received data request
                o = self.link_rx.exchange(&mut self.notifications) => {
                    o?;
                    let mut packets = VecDeque::new();
                    let mut unscheduled = false;

                    for notif in self.notifications.drain(..) {
                        if let Some(packet) = notif.into() {
                            packets.push_back(packet);
                        } else {
                            unscheduled = true;
                        }

                    }
                    self.network.writev(packets).await?;
                    if unscheduled {
                        self.link_rx.wake().await?;
                    }
                }
            }
        }
    }
}

/// Read MQTT connect packet from network and verify it.
/// authentication and checks are done here.
pub async fn mqtt_connect<P>(
    config: Arc<ConnectionSettings>,
    network: &mut Network<P>,
) -> Result<Packet, Error>
where
    P: Protocol,
{
    // Wait for MQTT connect packet and error out if it's not received in time to prevent
    // DOS attacks by filling total connections that the server can handle with idle open
    // connections which results in server rejecting new connections
    let connection_timeout_ms = config.connection_timeout_ms.into();
    let packet = time::timeout(Duration::from_millis(connection_timeout_ms), async {
        let packet = network.read().await?;
        Ok::<_, network::Error>(packet)
    })
    .await??;

    let (connect, _props, login) = match packet {
        Packet::Connect(ref connect, ref props, _, _, ref login) => (connect, props, login),
        packet => return Err(Error::NotConnectPacket(packet)),
    };

    Span::current().record("client_id", &connect.client_id);

    // DOJO PATCH (refuse cleanly): a refused login gets a CONNACK saying so, not a bare close.
    if let Err(e) = handle_auth(config.clone(), login.as_ref(), &connect.client_id).await {
        let code = if login.is_some() {
            ConnectReturnCode::BadUserNamePassword
        } else {
            ConnectReturnCode::NotAuthorized
        };
        let ack = ConnAck {
            session_present: false,
            code,
        };
        network.write(Packet::ConnAck(ack, None)).await.ok();
        return Err(e);
    }

    // DOJO PATCH (hooks): the embedder decides every CONNECT (reserved client ids, client id
    // against username, last-will topic), authenticated or not.
    if let Some(filter) = &config.connect_filter {
        let will = match &packet {
            Packet::Connect(_, _, will, _, _) => will.as_ref(),
            _ => None,
        };
        let info = ConnectInfo {
            client_id: &connect.client_id,
            username: login.as_ref().map(|l| l.username.as_str()),
            will_topic: will.map(|w| w.topic.as_ref()),
            will_payload: will.map(|w| w.message.as_ref()).unwrap_or_default(),
        };
        if let Err(code) = filter(&info) {
            let ack = ConnAck {
                session_present: false,
                code,
            };
            network.write(Packet::ConnAck(ack, None)).await.ok();
            return Err(Error::Refused(code));
        }
    }

    // When keep_alive feature is disabled client can live forever, which is not good in
    // distributed broker context so currenlty we don't allow it.
    if connect.keep_alive == 0 {
        return Err(Error::ZeroKeepAlive);
    }

    let empty_client_id = connect.client_id.is_empty();
    let clean_session = connect.clean_session;

    if empty_client_id && !clean_session {
        let ack = ConnAck {
            session_present: false,
            code: ConnectReturnCode::ClientIdentifierNotValid,
        };

        let packet = Packet::ConnAck(ack, None);
        network.write(packet).await?;

        return Err(Error::InvalidClientId);
    }

    // Ok((connect, props, lastwill, lastwill_props))
    Ok(packet)
}

async fn handle_auth(
    config: Arc<ConnectionSettings>,
    login: Option<&Login>,
    client_id: &str,
) -> Result<(), Error> {
    if config.auth.is_none() && config.external_auth.is_none() {
        return Ok(());
    }

    // if authentication is configured and connect packet doesn't have login details
    // return an error
    let Some(login) = login else {
        return Err(Error::InvalidAuth);
    };

    let username = &login.username;
    let password = &login.password;

    if let Some(auth) = &config.external_auth {
        if !auth(
            client_id.to_owned(),
            username.to_owned(),
            password.to_owned(),
        )
        .await
        {
            return Err(Error::InvalidAuth);
        }

        return Ok(());
    }

    if let Some(pairs) = &config.auth {
        if let Some(stored_password) = pairs.get(username) {
            if stored_password.as_bytes().ct_eq(password.as_bytes()).into() {
                return Ok(());
            }
        }

        return Err(Error::InvalidAuth);
    }

    Err(Error::InvalidAuth)
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, sync::Arc};

    use crate::{protocol::Login, ConnectionSettings};

    use super::handle_auth;

    fn config() -> ConnectionSettings {
        ConnectionSettings {
            connection_timeout_ms: 0,
            max_payload_size: 0,
            max_inflight_count: 0,
            auth: None,
            external_auth: None,
            dynamic_filters: false,
            connect_filter: None,
            publish_filter: None,
            subscribe_filter: None,
        }
    }

    fn login() -> Login {
        Login {
            username: "u".to_owned(),
            password: "p".to_owned(),
        }
    }

    #[tokio::test]
    async fn no_login_no_auth() {
        let cfg = Arc::new(config());
        let r = handle_auth(cfg, None, "").await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn some_login_no_auth() {
        let cfg = Arc::new(config());
        let login = login();
        let r = handle_auth(cfg, Some(&login), "").await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn login_matches_static_auth() {
        let login = login();
        let mut map = HashMap::<String, String>::new();
        map.insert(login.username.clone(), login.password.clone());

        let mut cfg = config();
        cfg.auth = Some(map);

        let r = handle_auth(Arc::new(cfg), Some(&login), "").await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn login_fails_static_no_external() {
        let login = login();
        let mut map = HashMap::<String, String>::new();
        map.insert("wrong".to_owned(), "wrong".to_owned());

        let mut cfg = config();
        cfg.auth = Some(map);

        let r = handle_auth(Arc::new(cfg), Some(&login), "").await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn login_fails_static_matches_external() {
        let login = login();

        let mut map = HashMap::<String, String>::new();
        map.insert("wrong".to_owned(), "wrong".to_owned());

        let dynamic = |_: String, _: String, _: String| async { true };

        let mut cfg = config();
        cfg.auth = Some(map);
        cfg.set_auth_handler(dynamic);

        let r = handle_auth(Arc::new(cfg), Some(&login), "").await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn login_fails_static_fails_external() {
        let login = login();

        let mut map = HashMap::<String, String>::new();
        map.insert("wrong".to_owned(), "wrong".to_owned());

        let dynamic = |_: String, _: String, _: String| async { false };

        let mut cfg = config();
        cfg.auth = Some(map);
        cfg.set_auth_handler(dynamic);

        let r = handle_auth(Arc::new(cfg), Some(&login), "").await;
        assert!(r.is_err());
    }

    #[tokio::test]
    async fn external_auth_clousre_or_fnptr_type_check_or_fail_compile() {
        let closure = |_: String, _: String, _: String| async { false };
        async fn fnptr(_: String, _: String, _: String) -> bool {
            true
        }

        let mut cfg = config();
        cfg.set_auth_handler(closure);
        cfg.set_auth_handler(fnptr);
    }
}
