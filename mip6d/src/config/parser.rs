//! The grammar of `mip6d.conf`: a recursive-descent
//! reading of UMIP's yacc grammar with the same checks at the same points.
//!
//! A semantic error is reported at the line of the token that completes the
//! construct being checked (the `;` or `}`), as yacc's reductions do; a
//! prefix length at its number; a missing IPsec protocol at the token that
//! follows the policy type.

use std::net::Ipv6Addr;

use super::check::{self, Expanded};
use super::directives::{self, Kind, Scope};
use super::lexer::{Lexer, Tok, Token};
use super::model::{
    truncate_if_name, BindingAclEntry, CnBindingPolicy, Config, HaTunnelDatapath, HomeLink,
    InterfaceConfig, IpsecPolicy, IpsecPolicySet, IpsecPolicyType, IpsecProtocol, MovementModule,
    Prefix, RoPolicy, Role, BA_STATUS_PROHIBITED,
};
use super::{ConfigError, Host, LoadError, Loaded};

type PResult<T> = Result<T, ConfigError>;

struct Parser<'h> {
    lex: Lexer<'h>,
    host: &'h dyn Host,
    ahead: Option<Token>,
    config: Config,
    ipsec_done: Vec<Expanded>,
}

/// Parses the legacy syntax. `file` names the text in messages.
pub fn parse_legacy(text: &[u8], file: &str, host: &dyn Host) -> Result<Loaded, LoadError> {
    let mut p = Parser {
        lex: Lexer::new(file, text, host),
        host,
        ahead: None,
        config: Config::default(),
        ipsec_done: Vec::new(),
    };
    match p.parse_all() {
        Ok(()) => Ok(Loaded {
            config: p.config,
            warnings: p.lex.warnings,
        }),
        Err(error) => Err(LoadError {
            warnings: p.lex.warnings,
            error,
            unreadable: None,
        }),
    }
}

fn err_at(tok: &Token, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: tok.file.to_string(),
        line: Some(tok.line),
        message: message.into(),
    }
}

fn syntax_error(tok: &Token) -> ConfigError {
    if tok.tok == Tok::Eof {
        err_at(tok, "syntax error at end of file")
    } else {
        err_at(tok, format!("syntax error at '{}'", tok.text))
    }
}

fn policy_type(kw: &str) -> Option<IpsecPolicyType> {
    Some(match kw {
        "HomeRegBinding" => IpsecPolicyType::HomeRegBinding,
        "Mh" => IpsecPolicyType::Mh,
        "MobPfxDisc" => IpsecPolicyType::MobPfxDisc,
        "ICMP" => IpsecPolicyType::Icmp,
        "any" => IpsecPolicyType::Any,
        "TunnelHomeTesting" => IpsecPolicyType::TunnelHomeTesting,
        "TunnelMh" => IpsecPolicyType::TunnelMh,
        "TunnelPayload" => IpsecPolicyType::TunnelPayload,
        _ => return None,
    })
}

fn protocol(tok: &Tok) -> Option<IpsecProtocol> {
    match tok {
        Tok::Keyword("UseESP") => Some(IpsecProtocol::Esp),
        Tok::Keyword("UseAH") => Some(IpsecProtocol::Ah),
        Tok::Keyword("UseIPComp") => Some(IpsecProtocol::IpComp),
        _ => None,
    }
}

impl Parser<'_> {
    fn peek(&mut self) -> PResult<&Token> {
        let t = match self.ahead.take() {
            Some(t) => t,
            None => self.lex.next_token()?,
        };
        Ok(self.ahead.insert(t))
    }

    fn bump(&mut self) -> PResult<Token> {
        match self.ahead.take() {
            Some(t) => Ok(t),
            None => self.lex.next_token(),
        }
    }

    fn peek_is_keyword(&mut self, kw: &str) -> PResult<bool> {
        Ok(matches!(&self.peek()?.tok, Tok::Keyword(k) if *k == kw))
    }

    fn peek_is_punct(&mut self, c: u8) -> PResult<bool> {
        Ok(self.peek()?.tok == Tok::Punct(c))
    }

    fn punct(&mut self, c: u8) -> PResult<Token> {
        let t = self.bump()?;
        if t.tok == Tok::Punct(c) {
            Ok(t)
        } else {
            Err(syntax_error(&t))
        }
    }

    fn keyword(&mut self, kw: &str) -> PResult<Token> {
        let t = self.bump()?;
        match t.tok {
            Tok::Keyword(k) if k == kw => Ok(t),
            _ => Err(syntax_error(&t)),
        }
    }

    fn boolean(&mut self) -> PResult<bool> {
        let t = self.bump()?;
        match t.tok {
            Tok::Bool(b) => Ok(b),
            _ => Err(syntax_error(&t)),
        }
    }

    fn number(&mut self) -> PResult<(u32, Token)> {
        let t = self.bump()?;
        match t.tok {
            Tok::Number(Some(n)) => Ok((n, t)),
            // UMIP's atoi wraps silently; a number this large is a mistake.
            Tok::Number(None) => Err(err_at(&t, format!("number {} is too large", t.text))),
            _ => Err(syntax_error(&t)),
        }
    }

    fn decimal(&mut self) -> PResult<f64> {
        let t = self.bump()?;
        match t.tok {
            Tok::Decimal(d) => Ok(d),
            _ => Err(syntax_error(&t)),
        }
    }

    fn addr(&mut self) -> PResult<Ipv6Addr> {
        let t = self.bump()?;
        match t.tok {
            Tok::Addr(a) => Ok(a),
            _ => Err(syntax_error(&t)),
        }
    }

    fn string(&mut self) -> PResult<(String, Token)> {
        let t = self.bump()?;
        match &t.tok {
            Tok::Str(s) => Ok((s.clone(), t)),
            _ => Err(syntax_error(&t)),
        }
    }

    fn role(&mut self) -> PResult<Role> {
        let t = self.bump()?;
        match t.tok {
            Tok::Keyword("CN") => Ok(Role::CorrespondentNode),
            Tok::Keyword("MN") => Ok(Role::MobileNode),
            Tok::Keyword("HA") => Ok(Role::HomeAgent),
            _ => Err(syntax_error(&t)),
        }
    }

    /// `ADDR '/' PLEN`.
    fn prefix(&mut self) -> PResult<Prefix> {
        let addr = self.addr()?;
        self.punct(b'/')?;
        let (n, t) = self.number()?;
        let len = check::prefix_len(n).map_err(|m| err_at(&t, m))?;
        Ok(Prefix { addr, len })
    }

    /// `[ '(' prefix { ',' prefix } ')' ]`.
    fn prefix_list(&mut self) -> PResult<Vec<Prefix>> {
        let mut v = Vec::new();
        if !self.peek_is_punct(b'(')? {
            return Ok(v);
        }
        self.bump()?;
        loop {
            v.push(self.prefix()?);
            let t = self.bump()?;
            match t.tok {
                Tok::Punct(b',') => continue,
                Tok::Punct(b')') => return Ok(v),
                _ => return Err(syntax_error(&t)),
            }
        }
    }

    /// `BOOL | NUMBER` of the binding ACLs, as a BA status.
    fn acl_value(&mut self) -> PResult<u8> {
        let t = self.bump()?;
        match t.tok {
            Tok::Bool(true) => Ok(0),
            Tok::Bool(false) => Ok(BA_STATUS_PROHIBITED),
            Tok::Number(Some(n)) => check::acl_status(n).map_err(|m| err_at(&t, m)),
            Tok::Number(None) => Err(err_at(&t, format!("number {} is too large", t.text))),
            _ => Err(syntax_error(&t)),
        }
    }

    fn parse_all(&mut self) -> PResult<()> {
        // UMIP's grammar wants at least one statement; an empty file is fine here.
        while self.peek()?.tok != Tok::Eof {
            self.statement()?;
        }
        Ok(())
    }

    fn statement(&mut self) -> PResult<()> {
        let t = self.bump()?;
        let Tok::Keyword(kw) = t.tok else {
            return Err(syntax_error(&t));
        };
        let Some(setting) = directives::setting(kw) else {
            if directives::leaf(Scope::Global, kw).is_some() {
                return self.refused_statement(kw, &t);
            }
            return Err(syntax_error(&t));
        };
        match setting.kind {
            Kind::Bool { set, .. } => {
                let b = self.boolean()?;
                self.punct(b';')?;
                set(&mut self.config, b);
            }
            Kind::Number { set, check, .. } => {
                let (n, _) = self.number()?;
                let semi = self.punct(b';')?;
                let n = check(n).map_err(|m| err_at(&semi, m))?;
                set(&mut self.config, n);
            }
            Kind::Decimal {
                set, only_positive, ..
            } => {
                let d = self.decimal()?;
                self.punct(b';')?;
                if !(only_positive && d <= 0.0) {
                    set(&mut self.config, d);
                }
            }
            Kind::Role => {
                self.config.node_config = self.role()?;
                self.punct(b';')?;
            }
            Kind::LogFile => {
                self.config.debug_log_file = Some(self.string()?.0);
                self.punct(b';')?;
            }
            Kind::Interfaces => self.interface()?,
            Kind::HomeLinks => self.home_link()?,
            Kind::IpsecPolicySets => self.ipsec_policy_set()?,
            Kind::CnBindingPolicies => self.cn_binding_policy_set()?,
            Kind::BindingAcls => {
                let home_address = self.addr()?;
                let mobile_network_prefixes = self.prefix_list()?;
                let status = self.acl_value()?;
                self.punct(b';')?;
                self.config.binding_acl_policy.push(BindingAclEntry {
                    home_address,
                    mobile_network_prefixes,
                    status,
                });
            }
            Kind::AclStatus => {
                self.config.default_binding_acl_policy = self.acl_value()?;
                self.punct(b';')?;
            }
            Kind::ServedPrefixes => {
                let p = self.prefix()?;
                self.punct(b';')?;
                self.config.ha_served_prefix.push(p);
            }
            Kind::Datapath => {
                let t = self.bump()?;
                self.config.ha_tunnel_datapath = match t.tok {
                    Tok::Keyword("shared") => HaTunnelDatapath::Shared,
                    Tok::Keyword("per-binding") => HaTunnelDatapath::PerBinding,
                    _ => {
                        return Err(err_at(
                            &t,
                            format!("HaTunnelDatapath is shared or per-binding, not {}", t.text),
                        ))
                    }
                };
                self.punct(b';')?;
            }
            Kind::Module => {
                let t = self.bump()?;
                self.config.use_movement_module = match t.tok {
                    Tok::Keyword("internal") => MovementModule::Internal,
                    Tok::Str(s) => MovementModule::Path(s),
                    _ => return Err(syntax_error(&t)),
                };
                self.punct(b';')?;
            }
        }
        Ok(())
    }

    /// A top-level statement that is read and then refused.
    fn refused_statement(&mut self, kw: &str, at: &Token) -> PResult<()> {
        match kw {
            "UsePolicyModule" => {
                let (path, t) = self.string()?;
                // UMIP dlopens a module built against its own internals;
                // running without it would silently change the binding policy.
                Err(err_at(
                    &t,
                    format!("error loading shared object {path}: policy modules are not supported"),
                ))
            }
            _ => Err(syntax_error(at)),
        }
    }

    /// The keyword of `t` when it is a statement allowed in `scope`.
    fn leaf_keyword(t: &Token, scope: Scope) -> PResult<&'static str> {
        match t.tok {
            Tok::Keyword(k) if directives::leaf(scope, k).is_some() => Ok(k),
            _ => Err(syntax_error(t)),
        }
    }

    /// `Interface QSTRING ( ';' | '{' ifopt { ifopt } '}' )`.
    fn interface(&mut self) -> PResult<()> {
        let (name, _) = self.string()?;
        let mut iface = InterfaceConfig::new(&name);
        let end = if self.peek_is_punct(b';')? {
            self.bump()?
        } else {
            self.punct(b'{')?;
            loop {
                let t = self.bump()?;
                match Self::leaf_keyword(&t, Scope::Interface)? {
                    "IfType" => {
                        iface.if_type = Some(self.role()?);
                        self.punct(b';')?;
                    }
                    "MnIfPreference" => {
                        let (n, _) = self.number()?;
                        let semi = self.punct(b';')?;
                        iface.mn_if_preference =
                            check::if_preference(n).map_err(|m| err_at(&semi, m))?;
                    }
                    "Tunnel" => {
                        iface.tunnel = self.boolean()?;
                        self.punct(b';')?;
                    }
                    _ => return Err(syntax_error(&t)),
                }
                if self.peek_is_punct(b'}')? {
                    break self.bump()?;
                }
            }
        };
        let ha = check::interface(&iface, &name, self.config.node_config, self.host)
            .map_err(|m| err_at(&end, m))?;
        iface.ha_interface = Some(ha);
        self.config.interface.push(iface);
        Ok(())
    }

    /// `MnHomeLink QSTRING '{' linkopt { linkopt } '}'`.
    fn home_link(&mut self) -> PResult<()> {
        let (name, _) = self.string()?;
        self.punct(b'{')?;
        let mut link = HomeLink {
            interface: truncate_if_name(&name),
            home_agent_address: Ipv6Addr::UNSPECIFIED,
            home_address: Prefix {
                addr: Ipv6Addr::UNSPECIFIED,
                len: 0,
            },
            mobile_network_prefixes: Vec::new(),
            home_prefix: None,
            is_mob_rtr: false,
            use_alt_coa: false,
            mn_ro_policy: Vec::new(),
        };
        let end = loop {
            let t = self.bump()?;
            match Self::leaf_keyword(&t, Scope::HomeLink)? {
                "HomeAgentAddress" => link.home_agent_address = self.addr()?,
                "HomeAddress" => {
                    link.home_address = self.prefix()?;
                    // A second HomeAddress replaces the address; its MNPs add up (UMIP).
                    let mnps = self.prefix_list()?;
                    link.mobile_network_prefixes.extend(mnps);
                }
                "HomePrefix" => {
                    let p = self.prefix()?.masked();
                    // An all-zero prefix is UMIP's "not set".
                    link.home_prefix = (!p.addr.is_unspecified()).then_some(p);
                }
                // IsMobRtr only ever sets the flag (UMIP).
                "IsMobRtr" => link.is_mob_rtr |= self.boolean()?,
                "UseAltCoa" => link.use_alt_coa = self.boolean()?,
                "MnRoPolicy" => {
                    let cn = match self.peek()?.tok {
                        Tok::Addr(_) => self.addr()?,
                        _ => Ipv6Addr::UNSPECIFIED,
                    };
                    let route_optimization = self.boolean()?;
                    link.mn_ro_policy.push(RoPolicy {
                        cn,
                        route_optimization,
                    });
                }
                _ => return Err(syntax_error(&t)),
            }
            self.punct(b';')?;
            if self.peek_is_punct(b'}')? {
                break self.bump()?;
            }
        };
        check::home_link(&link, &name, self.host).map_err(|m| err_at(&end, m))?;
        self.config.mn_home_link.push(link);
        Ok(())
    }

    /// `IPsecPolicySet '{' HomeAgentAddress ADDR ';' psethoa+ ipsecpol+ '}'`.
    fn ipsec_policy_set(&mut self) -> PResult<()> {
        self.punct(b'{')?;
        self.keyword("HomeAgentAddress")?;
        let home_agent_address = self.addr()?;
        self.punct(b';')?;
        let mut set = IpsecPolicySet {
            home_agent_address,
            home_address: Vec::new(),
            ipsec_policy: Vec::new(),
        };
        loop {
            self.keyword("HomeAddress")?;
            set.home_address.push(self.prefix()?);
            self.punct(b';')?;
            if !self.peek_is_keyword("HomeAddress")? {
                break;
            }
        }
        loop {
            self.keyword("IPsecPolicy")?;
            let t = self.bump()?;
            let kind = match t.tok {
                Tok::Keyword(k) => policy_type(k),
                _ => None,
            }
            .ok_or_else(|| syntax_error(&t))?;
            let mut protocols = Vec::new();
            while protocols.len() < 3 {
                match protocol(&self.peek()?.tok) {
                    Some(p) => {
                        protocols.push(p);
                        self.bump()?;
                    }
                    None => break,
                }
            }
            if protocols.is_empty() {
                let next = self.peek()?.clone();
                return Err(err_at(&next, "IPsecPolicy must set at least one protocol"));
            }
            let (mut reqid_to_ha, mut reqid_to_mn) = (0, 0);
            if matches!(self.peek()?.tok, Tok::Number(_)) {
                reqid_to_ha = self.number()?.0;
                reqid_to_mn = reqid_to_ha;
                if matches!(self.peek()?.tok, Tok::Number(_)) {
                    reqid_to_mn = self.number()?.0;
                }
            }
            let allow = match self.peek()?.tok {
                Tok::Bool(_) => self.boolean()?,
                _ => true,
            };
            let semi = self.punct(b';')?;
            let policy = IpsecPolicy {
                kind,
                protocols,
                reqid_to_ha,
                reqid_to_mn,
                allow,
            };
            check::ipsec_policy(
                set.home_agent_address,
                &set.home_address,
                &policy,
                &mut self.ipsec_done,
            )
            .map_err(|m| err_at(&semi, m))?;
            set.ipsec_policy.push(policy);
            if !self.peek_is_keyword("IPsecPolicy")? {
                break;
            }
        }
        self.punct(b'}')?;
        self.config.ipsec_policy_set.push(set);
        Ok(())
    }

    /// `CnBindingPolicySet '{' ( ADDR [ADDR] BOOL ';' )+ '}'`.
    fn cn_binding_policy_set(&mut self) -> PResult<()> {
        self.punct(b'{')?;
        loop {
            let peer = self.addr()?;
            let local = match self.peek()?.tok {
                Tok::Addr(_) => self.addr()?,
                _ => Ipv6Addr::UNSPECIFIED,
            };
            let allow = self.boolean()?;
            self.punct(b';')?;
            self.config
                .cn_binding_policy
                .push(CnBindingPolicy { peer, local, allow });
            if self.peek_is_punct(b'}')? {
                self.bump()?;
                return Ok(());
            }
        }
    }
}
