//! Our own UDP ports: the addresses no reply may ever go to.
//!
//! A datagram whose source is one of the server's own UDP sockets is the
//! start of a reflection loop: echo answers itself, forever, at full speed
//! (one spoofed empty datagram produced 1.24 million replies in 4 s). inetd's
//! `check_loop` refuses datagrams whose source port is one of its own
//! services' ports; reactord does the same, narrowed to sources that are
//! this host: a source port that is one of our UDP ports on a local address
//! (loopback, an address bound here, or any address of this host's
//! interfaces when the set was made) gets no reply. A remote client that
//! happens to use the same port number is still answered.
//!
//! The set is built once, from the bound sockets, and can take more ports:
//! several reactors or processes serving the same host would each pass the
//! union of all their UDP ports, so that two of ours cannot loop between
//! themselves either. Interfaces added after start-up are not in the set;
//! their addresses are then only covered by the other rules (low ports, the budget).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

/// The UDP ports served here and the addresses that count as this host.
#[derive(Debug, Clone, Default)]
pub struct OwnSockets {
    ports: HashSet<u16>,
    local: HashSet<IpAddr>,
}

impl OwnSockets {
    /// The set for UDP sockets bound at `addrs`, with this host's interface addresses.
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        let mut own = OwnSockets {
            ports: HashSet::new(),
            local: interface_addresses(),
        };
        for addr in addrs {
            own.add(addr);
        }
        own
    }

    /// Adds a UDP socket of ours (of this reactor or of a sibling).
    pub fn add(&mut self, addr: SocketAddr) {
        self.ports.insert(addr.port());
        self.local.insert(addr.ip().to_canonical());
    }

    /// True when `peer` is one of our UDP ports on an address of this host.
    pub fn contains(&self, peer: SocketAddr) -> bool {
        if !self.ports.contains(&peer.port()) {
            return false;
        }
        let ip = peer.ip().to_canonical();
        ip.is_loopback() || ip.is_unspecified() || self.local.contains(&ip)
    }
}

/// Every address of this host's interfaces now (empty if they cannot be read).
fn interface_addresses() -> HashSet<IpAddr> {
    let mut found = HashSet::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        log::warn!(
            "cannot list interface addresses: {}",
            std::io::Error::last_os_error()
        );
        return found;
    }
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned, not yet freed.
        let node = unsafe { &*cursor };
        if let Some(ip) = socket_ip(node.ifa_addr) {
            found.insert(ip.to_canonical());
        }
        cursor = node.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// The IP address in a `sockaddr` of family AF_INET or AF_INET6.
fn socket_ip(addr: *const libc::sockaddr) -> Option<IpAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: non-null and valid for its family's struct, as getifaddrs promises.
    unsafe {
        match i32::from((*addr).sa_family) {
            libc::AF_INET => {
                let v4 = &*(addr as *const libc::sockaddr_in);
                Some(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()))
            }
            libc::AF_INET6 => {
                let v6 = &*(addr as *const libc::sockaddr_in6);
                Some(IpAddr::from(v6.sin6_addr.s6_addr))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_ports_on_local_addresses_and_nothing_else() {
        let own = OwnSockets::new([
            "127.0.0.1:7007".parse().unwrap(),
            "[::]:7013".parse().unwrap(),
        ]);
        for yes in [
            "127.0.0.1:7007",
            "127.0.0.2:7007",
            "[::1]:7013",
            "[::ffff:127.0.0.9]:7013",
            "0.0.0.0:7007",
        ] {
            assert!(own.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in ["127.0.0.1:7008", "192.0.2.1:7007", "[2001:db8::1]:7013"] {
            assert!(!own.contains(no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn interface_addresses_include_loopback() {
        assert!(interface_addresses().contains(&IpAddr::from([127, 0, 0, 1])));
    }
}
