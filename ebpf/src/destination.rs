//! A telemetry destination of the Charter (CIDR and port, port 0 = any) and its key in the
//! kernel allow-list, the LPM tries `allow_v4` / `allow_v6` of programs/charter.bpf.c.
//!
//! Key layout (mirrors the C): prefix length (u32, host order), then the port (2 bytes,
//! network order), then the address (4 or 16 bytes, network order). An entry for a/n and
//! port p has prefix length 16 + n, so it matches lookups with exactly port p and an
//! address in a/n; the programs look up the real port and then port 0 (any port).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// The most destinations the kernel allow-list holds (each trie's max_entries).
pub const DESTINATIONS_MAX: usize = 256;

/// Bits of the port in front of the address in a key.
const PORT_BITS: u32 = 16;
pub(crate) const V4_DATA_LEN: usize = 6;
pub(crate) const V6_DATA_LEN: usize = 18;

/// Where the telemetry exporter may send: a network and a port (0 = any port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Destination {
    pub network: IpNet,
    pub port: u16,
}

impl Destination {
    pub fn new(network: IpNet, port: u16) -> Self {
        Self { network, port }
    }

    /// Whether `address:port` falls under this destination (the rule the programs apply).
    pub fn allows(&self, address: IpAddr, port: u16) -> bool {
        self.network.contains(&address) && (self.port == 0 || self.port == port)
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.network {
            IpNet::V4(network) => write!(f, "{network}:{}", self.port),
            IpNet::V6(network) => write!(f, "[{network}]:{}", self.port),
        }
    }
}

/// Why a destination's text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination {text:?} is not CIDR:port (e.g. 10.0.0.0/8:9091 or [fd00::/8]:0): {why}")]
pub struct DestinationParseError {
    pub text: String,
    pub why: &'static str,
}

impl FromStr for Destination {
    type Err = DestinationParseError;

    /// `a.b.c.d/n:port` or `[v6/n]:port`, the Charter's form.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |why| DestinationParseError {
            text: text.to_string(),
            why,
        };
        let (network, port) = if let Some(rest) = text.strip_prefix('[') {
            let (network, port) = rest.split_once("]:").ok_or_else(|| fail("missing ]:"))?;
            (network, port)
        } else {
            text.rsplit_once(':').ok_or_else(|| fail("missing :port"))?
        };
        let network: IpNet = network.parse().map_err(|_| fail("bad CIDR"))?;
        if text.starts_with('[') != matches!(network, IpNet::V6(_)) {
            return Err(fail("IPv6 networks go in brackets, IPv4 ones do not"));
        }
        let port = port.parse().map_err(|_| fail("bad port"))?;
        Ok(Self { network, port })
    }
}

/// A destination encoded as an allow-list key (the value is always 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum AllowKey {
    V4 {
        prefix_len: u32,
        data: [u8; V4_DATA_LEN],
    },
    V6 {
        prefix_len: u32,
        data: [u8; V6_DATA_LEN],
    },
}

impl AllowKey {
    /// The key of `destination`; host bits of the network are cleared.
    pub(crate) fn of(destination: &Destination) -> Self {
        let port = destination.port.to_be_bytes();
        let key = match destination.network.trunc() {
            IpNet::V4(network) => {
                let mut data = [0u8; V4_DATA_LEN];
                data[..2].copy_from_slice(&port);
                data[2..].copy_from_slice(&network.addr().octets());
                Self::V4 {
                    prefix_len: PORT_BITS + u32::from(network.prefix_len()),
                    data,
                }
            }
            IpNet::V6(network) => {
                let mut data = [0u8; V6_DATA_LEN];
                data[..2].copy_from_slice(&port);
                data[2..].copy_from_slice(&network.addr().octets());
                Self::V6 {
                    prefix_len: PORT_BITS + u32::from(network.prefix_len()),
                    data,
                }
            }
        };
        key.assert_well_formed();
        key
    }

    /// The invariants the kernel trie relies on: the prefix covers the port and at most
    /// the whole address, and no bit past the prefix is set.
    pub(crate) fn assert_well_formed(&self) {
        let (prefix_len, data): (u32, &[u8]) = match self {
            Self::V4 { prefix_len, data } => (*prefix_len, data),
            Self::V6 { prefix_len, data } => (*prefix_len, data),
        };
        let bits = 8 * data.len() as u32;
        assert!(
            (PORT_BITS..=bits).contains(&prefix_len),
            "allow-list prefix length {prefix_len} outside {PORT_BITS}..={bits}"
        );
        for (index, byte) in data.iter().enumerate() {
            let first_bit = 8 * index as u32;
            let kept = prefix_len.saturating_sub(first_bit).min(8);
            let host_mask = if kept == 8 { 0 } else { 0xffu8 >> kept };
            assert_eq!(
                byte & host_mask,
                0,
                "allow-list key has bits set past its prefix length {prefix_len}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(text: &str) -> Destination {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_the_charter_form() {
        for text in ["127.0.0.1/32:9091", "10.0.0.0/8:0", "[fd00::/8]:9090"] {
            assert_eq!(destination(text).to_string(), text);
        }
        assert_eq!(destination("10.0.0.0/8:0").port, 0);
        for bad in [
            "127.0.0.1:9091",
            "10.0.0.0/8",
            "fd00::/8:9090",
            "[10.0.0.0/8]:1",
            "10.0.0.0/33:1",
            "10.0.0.0/8:65536",
        ] {
            assert!(bad.parse::<Destination>().is_err(), "{bad}");
        }
    }

    #[test]
    fn v4_key_is_port_then_address_in_network_order() {
        let key = AllowKey::of(&destination("127.0.0.1/32:9091"));
        assert_eq!(
            key,
            AllowKey::V4 {
                prefix_len: 48,
                data: [0x23, 0x83, 127, 0, 0, 1],
            }
        );
        // Port 0 = any port; host bits are cleared.
        let key = AllowKey::of(&destination("10.1.2.3/8:0"));
        assert_eq!(
            key,
            AllowKey::V4 {
                prefix_len: 24,
                data: [0, 0, 10, 0, 0, 0],
            }
        );
        let everything = AllowKey::of(&destination("0.0.0.0/0:443"));
        assert_eq!(
            everything,
            AllowKey::V4 {
                prefix_len: 16,
                data: [0x01, 0xbb, 0, 0, 0, 0],
            }
        );
    }

    #[test]
    fn v6_key_is_port_then_address_in_network_order() {
        let key = AllowKey::of(&destination("[fd00::/8]:9090"));
        let mut data = [0u8; V6_DATA_LEN];
        data[..2].copy_from_slice(&9090u16.to_be_bytes());
        data[2] = 0xfd;
        assert_eq!(
            key,
            AllowKey::V6 {
                prefix_len: 24,
                data,
            }
        );
        let host = AllowKey::of(&destination("[::1/128]:1"));
        let AllowKey::V6 { prefix_len, data } = host else {
            panic!("an IPv6 destination gives a v6 key");
        };
        assert_eq!(prefix_len, 144);
        assert_eq!(data[..2], [0, 1]);
        assert_eq!(data[V6_DATA_LEN - 1], 1);
    }

    #[test]
    #[should_panic(expected = "bits set past its prefix length")]
    fn a_key_with_host_bits_is_refused() {
        AllowKey::V4 {
            prefix_len: 24,
            data: [0, 0, 10, 0, 0, 1],
        }
        .assert_well_formed();
    }

    #[test]
    fn allows_follows_port_zero_as_any() {
        let any = destination("10.0.0.0/8:0");
        assert!(any.allows("10.255.255.255".parse().unwrap(), 65535));
        assert!(!any.allows("11.0.0.1".parse().unwrap(), 1));
        let one = destination("127.0.0.1/32:9091");
        assert!(one.allows("127.0.0.1".parse().unwrap(), 9091));
        assert!(!one.allows("127.0.0.1".parse().unwrap(), 9092));
    }
}
