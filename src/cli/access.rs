//! Where a live command reaches its venue and whose keys it uses: the environment,
//! the local exchange's address, per-market server overrides (a mirror, a proxy, a
//! colocated gateway) and the names of the key variables. `run` and `record` share
//! these flags, and `minerva.toml`'s `[endpoints.*]` and `[keys.*]` tables set them.

use super::args::KucoinBook;
use anyhow::{Result, bail};
use clap::Args;
use minerva::core::Market;
use minerva::venues::binance::endpoints::{Environment, Hosts};
use minerva::venues::kucoin::keys::KucoinKeys;

/// The venue's environment, servers and key variables.
#[derive(Args, Clone, Debug)]
pub struct Access {
    /// With a venue: the local exchange at --host, the venue's testnet (Binance only:
    /// KuCoin has none), or the venue.
    #[arg(long, value_enum, default_value = "local")]
    pub endpoint: Environment,
    /// The local exchange's address (--endpoint local).
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub host: String,
    /// `MARKET=URL`: the REST server of a market (spot, usdm, coinm) instead of the
    /// environment's published one, e.g. `spot=https://api1.binance.com`; repeat per
    /// market. Not with --endpoint local (use --host).
    #[arg(long, value_name = "MARKET=URL", value_parser = parse_server)]
    pub rest: Vec<(Market, String)>,
    /// `MARKET=URL`: the stream server of a market (Binance; KuCoin's comes with its
    /// token), e.g. `usdm=wss://fstream.binance.com`; repeat per market.
    #[arg(long, value_name = "MARKET=URL", value_parser = parse_server)]
    pub ws: Vec<(Market, String)>,
    /// The environment variable holding the API key (default: Binance's
    /// MINERVA_BINANCE_API_KEY, or MINERVA_BINANCE_TESTNET_API_KEY with --endpoint
    /// testnet; KuCoin's MINERVA_KUCOIN_API_KEY). The variable's name, never a key:
    /// keys come from the environment only.
    #[arg(long, value_name = "VAR", requires = "secret_env")]
    pub key_env: Option<String>,
    /// The environment variable holding the API secret (with --key-env).
    #[arg(long, value_name = "VAR", requires = "key_env")]
    pub secret_env: Option<String>,
    /// The environment variable holding KuCoin's API passphrase (with --key-env;
    /// default MINERVA_KUCOIN_API_PASSPHRASE).
    #[arg(long, value_name = "VAR", requires = "key_env")]
    pub passphrase_env: Option<String>,
}

/// `MARKET=URL` → the market and `scheme://host:port` (the scheme's port when none is
/// given).
pub fn parse_server(v: &str) -> Result<(Market, String), String> {
    let Some((m, url)) = v.split_once('=') else {
        return Err(format!(
            "`{v}`: expected MARKET=URL, e.g. spot=https://api1.binance.com"
        ));
    };
    let market: Market = m
        .trim()
        .parse()
        .map_err(|_| format!("`{m}`: the markets are spot, usdm and coinm"))?;
    let url = url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "`{url}`: give the scheme (https://, wss://, http://, ws://)"
        ));
    };
    let port = match scheme {
        "https" | "wss" => 443,
        "http" | "ws" => 80,
        _ => return Err(format!("`{url}`: the schemes are https, wss, http and ws")),
    };
    let host_ok = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-_[]:".contains(&c))
    };
    let with_port = match rest.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => {
            if p.parse::<u16>().is_err() || !host_ok(h) {
                return Err(format!("`{url}`: expected {scheme}://HOST[:PORT]"));
            }
            rest.to_string()
        }
        _ if host_ok(rest) => format!("{rest}:{port}"),
        _ => return Err(format!("`{url}`: expected {scheme}://HOST[:PORT], no path")),
    };
    Ok((market, format!("{scheme}://{with_port}")))
}

/// The server given last for a market `fits` (the command line's order: a later flag
/// wins).
fn given(servers: &[(Market, String)], fits: impl Fn(Market) -> bool) -> Option<&str> {
    servers
        .iter()
        .rev()
        .find(|(m, _)| fits(*m))
        .map(|(_, url)| url.as_str())
}

impl Access {
    /// `--rest`/`--ws` name a venue's servers: refused with the local exchange.
    fn local_has_no_servers(&self) -> Result<()> {
        if self.endpoint == Environment::Local && (!self.rest.is_empty() || !self.ws.is_empty()) {
            bail!("--rest/--ws name a venue's servers; the local exchange is --host");
        }
        Ok(())
    }

    /// Binance's REST and stream servers of `market`: the environment's, or the
    /// overrides given for this market.
    ///
    /// # Errors
    /// An override with --endpoint local.
    pub fn binance_hosts(&self, market: Market) -> Result<Hosts> {
        self.local_has_no_servers()?;
        let mut hosts = self.endpoint.hosts(market, &self.host);
        if self.endpoint == Environment::Local {
            return Ok(hosts);
        }
        if let Some(url) = given(&self.rest, |m| m == market) {
            hosts.rest = url.to_string();
        }
        if let Some(url) = given(&self.ws, |m| m == market) {
            hosts.ws = url.to_string();
        }
        Ok(hosts)
    }

    /// KuCoin's REST server of `market` (futures: any futures market's override).
    ///
    /// # Errors
    /// Testnet (KuCoin has none); an override with --endpoint local.
    pub fn kucoin_rest(&self, market: Market) -> Result<String> {
        self.local_has_no_servers()?;
        match self.endpoint {
            Environment::Local => Ok(format!("http://{}", self.host)),
            Environment::Live => Ok(given(&self.rest, |m| m.is_futures() == market.is_futures())
                .map_or_else(
                    || minerva::venues::kucoin::endpoints::rest_host(market).to_string(),
                    str::to_string,
                )),
            Environment::Testnet => bail!(
                "--endpoint testnet: KuCoin has no sandbox any more; rehearse on the local venue (minerva exchange on KuCoin data, --endpoint local; docs/kucoin.md)"
            ),
        }
    }

    /// KuCoin's live feed of `symbol`: the local venue at --host, or KuCoin (it has no
    /// testnet). Signed full-depth snapshots with the KuCoin keys (or the paper keys
    /// the local venue accepts); live without keys, the public top 100, said on
    /// stderr. `book`: the classic level-2 topics or the unified account's `obu`.
    ///
    /// # Errors
    /// Testnet; an override with local; named key variables that are not set.
    pub fn kucoin_feed(
        &self,
        market: Market,
        symbol: &str,
        book: KucoinBook,
    ) -> Result<minerva::venues::kucoin::stream::FeedConfig> {
        let rest = self.kucoin_rest(market)?;
        let mut c = minerva::venues::kucoin::stream::FeedConfig::new(&rest, market, symbol);
        if book == KucoinBook::Obu {
            c.uta = Some(match self.endpoint {
                Environment::Local => format!("ws://{}/", self.host),
                _ => given(&self.ws, |m| m.is_futures() == market.is_futures()).map_or_else(
                    || minerva::venues::kucoin::endpoints::uta_public_url(market).to_string(),
                    |url| format!("{url}/"),
                ),
            });
        }
        let (keys, from_env) = self.kucoin_keys()?;
        if from_env || self.endpoint == Environment::Local {
            c.keys = Some(std::sync::Arc::new(keys));
        } else if book == KucoinBook::Obu {
            // The book comes whole on the stream: keys matter for orders only.
        } else {
            eprintln!(
                "no KuCoin keys in the environment: the book starts from KuCoin's public top-100 snapshot (set MINERVA_KUCOIN_API_KEY/_SECRET/_PASSPHRASE for the full book)"
            );
        }
        Ok(c)
    }

    /// Where the Binance keys are read from: `--key-env`/`--secret-env`, else
    /// testnet's own variables for `--endpoint testnet` (never live's), else the
    /// documented names and the seed's fallbacks.
    pub fn binance_key_families(&self) -> Vec<(&'static str, &'static str)> {
        use minerva::venues::binance::keys::{
            KEY_FAMILIES, TESTNET_API_KEY_VAR, TESTNET_API_SECRET_VAR,
        };
        match (&self.key_env, &self.secret_env) {
            (Some(k), Some(s)) => vec![(leak(k), leak(s))],
            _ if self.endpoint == Environment::Testnet => {
                vec![(TESTNET_API_KEY_VAR, TESTNET_API_SECRET_VAR)]
            }
            _ => KEY_FAMILIES.to_vec(),
        }
    }

    /// KuCoin's keys from `--key-env`/`--secret-env`/`--passphrase-env` (each
    /// defaulting to the documented name), else the documented names and the seed's;
    /// the paper keys when none is set. True when they came from the environment.
    ///
    /// # Errors
    /// Named variables of which one is missing or malformed (never a value).
    pub fn kucoin_keys(&self) -> Result<(KucoinKeys, bool)> {
        use minerva::venues::kucoin::keys::PASSPHRASE_VARS;
        match (&self.key_env, &self.secret_env) {
            (Some(k), Some(s)) => {
                let p = self
                    .passphrase_env
                    .as_ref()
                    .map_or(PASSPHRASE_VARS[0], |p| leak(p));
                Ok((KucoinKeys::from_vars(leak(k), leak(s), p)?, true))
            }
            _ => Ok(KucoinKeys::from_env_or_paper()),
        }
    }
}

/// A variable's name kept for the process's life, as the key types want (named once
/// per process).
fn leak(s: &str) -> &'static str {
    Box::leak(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_checked_and_given_their_port() {
        assert_eq!(
            parse_server("spot=https://api1.binance.com"),
            Ok((Market::Spot, "https://api1.binance.com:443".into()))
        );
        assert_eq!(
            parse_server("usdm=wss://fstream.binance.com:9443/"),
            Ok((Market::UsdM, "wss://fstream.binance.com:9443".into()))
        );
        assert_eq!(
            parse_server("coinm=http://10.0.0.5:8080"),
            Ok((Market::CoinM, "http://10.0.0.5:8080".into()))
        );
        for bad in [
            "https://api.binance.com",
            "spot=api.binance.com",
            "spot=ftp://x",
            "perp=https://x",
            "spot=https://x:99999",
            "spot=https://x/api",
            "spot=https://",
        ] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }
}
