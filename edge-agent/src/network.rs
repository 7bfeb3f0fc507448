//! How the venue's phones and TVs reach the agent: the URLs it can be opened at on the local
//! network, for the start-up lines and the console's QR codes.
//!
//! The agent listens on `127.0.0.1` unless told otherwise, which no other machine can reach. When
//! it listens on every interface (`0.0.0.0`), its LAN URLs are those of the machine's IPv4
//! addresses that are not loopback. On Linux they are read from `/proc/net/fib_trie` (every local
//! address, no crate needed); elsewhere, or if that file cannot be read, the address the system
//! would use for outgoing traffic (a UDP socket's `connect`, which sends nothing) stands in.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use serde::Serialize;

/// Where the agent listens and the URLs the venue's network can open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reach {
    /// The HTTP listen address.
    pub listening: SocketAddr,
    /// `http://ip:port/` per LAN address; empty when only this machine can connect.
    pub lan_urls: Vec<String>,
    /// Whether other machines can connect at all (not a loopback address).
    pub serving_lan: bool,
}

impl Reach {
    /// The reach of an agent listening on `listening`, looking up this machine's addresses.
    pub fn of(listening: SocketAddr) -> Reach {
        Reach::with_addresses(listening, &local_ipv4s())
    }

    /// The reach of an agent listening on `listening` on a machine with `addresses`.
    pub fn with_addresses(listening: SocketAddr, addresses: &[Ipv4Addr]) -> Reach {
        let ip = listening.ip();
        let serving_lan = !ip.is_loopback();
        let ips: Vec<IpAddr> = if ip.is_unspecified() {
            addresses.iter().map(|a| IpAddr::V4(*a)).collect()
        } else if serving_lan {
            vec![ip]
        } else {
            Vec::new()
        };
        let lan_urls = ips
            .into_iter()
            .map(|ip| format!("http://{}/", SocketAddr::new(ip, listening.port())))
            .collect();
        Reach {
            listening,
            lan_urls,
            serving_lan,
        }
    }

    /// What to tell whoever starts the agent: the LAN URLs, or how to serve the venue's network.
    pub fn advice(&self) -> String {
        if !self.serving_lan {
            return format!(
                "listening on {} only: phones and TVs on the venue's network cannot reach it; \
                 start with --http-addr 0.0.0.0:{} to serve them",
                self.listening,
                self.listening.port()
            );
        }
        if self.lan_urls.is_empty() {
            return format!(
                "listening on {} but this machine has no network address yet",
                self.listening
            );
        }
        format!(
            "phones and TVs on the venue's network open {}",
            self.lan_urls.join(" or ")
        )
    }
}

/// This machine's IPv4 addresses that are not loopback, sorted, without repeats.
pub fn local_ipv4s() -> Vec<Ipv4Addr> {
    let mut found = std::fs::read_to_string("/proc/net/fib_trie")
        .map(|text| addresses_in_fib_trie(&text))
        .unwrap_or_default();
    if found.is_empty()
        && let Some(ip) = outgoing_ipv4()
    {
        found.push(ip);
    }
    found
}

/// The local (`/32 host LOCAL`) addresses in a `/proc/net/fib_trie` listing, without loopback.
pub fn addresses_in_fib_trie(text: &str) -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '|', '+', '-', '`']).trim();
        if let Ok(ip) = line.parse::<Ipv4Addr>() {
            last = Some(ip);
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last
            && !ip.is_loopback()
            && !found.contains(&ip)
        {
            found.push(ip);
        }
    }
    found.sort();
    found
}

/// The address outgoing traffic would leave from (no packet is sent).
fn outgoing_ipv4() -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-1 (RFC 5737): routed like any remote address, never answered.
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 192.168.1.0/24 2 0 2
        |-- 192.168.1.0
           /24 link UNICAST
        |-- 192.168.1.23
           /32 host LOCAL
        |-- 192.168.1.255
           /32 link BROADCAST
     |-- 10.0.0.7
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 192.168.1.23
        /32 host LOCAL
";

    #[test]
    fn local_addresses_come_from_the_fib_trie_without_loopback() {
        assert_eq!(
            addresses_in_fib_trie(FIB_TRIE),
            vec![Ipv4Addr::new(10, 0, 0, 7), Ipv4Addr::new(192, 168, 1, 23)]
        );
    }

    #[test]
    fn only_a_wildcard_or_lan_address_serves_the_venue() {
        let lan = [Ipv4Addr::new(192, 168, 1, 23)];
        let loopback = Reach::with_addresses("127.0.0.1:8080".parse().expect("addr"), &lan);
        assert!(!loopback.serving_lan);
        assert!(loopback.lan_urls.is_empty());
        assert!(loopback.advice().contains("--http-addr 0.0.0.0:8080"));
        let all = Reach::with_addresses("0.0.0.0:8080".parse().expect("addr"), &lan);
        assert_eq!(all.lan_urls, vec!["http://192.168.1.23:8080/".to_owned()]);
        assert!(all.advice().contains("http://192.168.1.23:8080/"));
        let one = Reach::with_addresses("10.0.0.7:9000".parse().expect("addr"), &lan);
        assert_eq!(one.lan_urls, vec!["http://10.0.0.7:9000/".to_owned()]);
    }
}
