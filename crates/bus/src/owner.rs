//! Signals believed only from the connection that owns a well-known name.
//!
//! On the system bus any client may emit any signal, with any path, interface and
//! member, as a broadcast or sent straight to one subscriber (a unicast signal reaches
//! its destination whatever that destination's match rules say). Only the `sender`
//! header cannot be forged: the bus writes it. So a subscriber that acts on a
//! daemon's signals must compare that header with the unique name owning the daemon's
//! well-known name *at the point in the message stream where the signal was sent*:
//! the owner changes when the daemon restarts, and the new owner's first signal must
//! not be refused, nor the old owner's last one (its `down` at exit).
//!
//! [`OwnerSignals`] does that the way zbus's own proxies do: it follows the bus
//! driver's `NameOwnerChanged` for the name and joins those with the signals in the
//! order the connection received them (zbus numbers every received message), so each
//! signal is judged against the owner of that moment. The match rule sent to the bus
//! also names the well-known name as sender, so the bus does not even deliver other
//! connections' broadcasts; unicast ones are refused here, and counted.

use zbus::export::ordered_stream::{self, join, Join, OrderedStreamExt as _};
use zbus::message::{Sequence, Type as MessageType};
use zbus::names::OwnedUniqueName;
use zbus::{Connection, MatchRule, Message, MessageStream};

/// The bus driver's name: the only sender of `NameOwnerChanged` we believe.
const BUS_DRIVER: &str = "org.freedesktop.DBus";
const BUS_DRIVER_PATH: &str = "/org/freedesktop/DBus";

/// A received message and the stream it came from.
enum Tagged {
    /// From the `NameOwnerChanged` subscription.
    Owner(zbus::Result<Message>),
    /// From the caller's signal subscription.
    Signal(zbus::Result<Message>),
}

type TagFn = fn(zbus::Result<Message>) -> Tagged;
type Tagger = ordered_stream::Map<MessageStream, TagFn>;

/// Signals matching a rule, from the current owner of a well-known name only.
pub(crate) struct OwnerSignals {
    stream: Join<Tagger, Tagger>,
    name: &'static str,
    owner: Option<OwnedUniqueName>,
    /// The position of the `GetNameOwner` answer: owner changes received before it
    /// are already reflected in `owner`.
    known_at: Sequence,
    refused: u64,
}

impl OwnerSignals {
    /// Subscribes to the signals matching `rule` (which must not name a sender) that
    /// the owner of `name` sends.
    pub(crate) async fn subscribe(
        conn: &Connection,
        name: &'static str,
        rule: zbus::match_rule::Builder<'_>,
    ) -> zbus::Result<OwnerSignals> {
        // Owner changes first, then the owner now: a change in between is in the
        // stream, after the answer, and applied.
        let changes_rule = MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender(BUS_DRIVER)?
            .path(BUS_DRIVER_PATH)?
            .interface(BUS_DRIVER)?
            .member("NameOwnerChanged")?
            .arg(0, name)?
            .build();
        let changes = MessageStream::for_match_rule(changes_rule, conn, None).await?;
        let (owner, known_at) = name_owner(conn, name).await?;
        let signals = MessageStream::for_match_rule(rule.sender(name)?.build(), conn, None).await?;
        let stream = join(
            changes.map(Tagged::Owner as TagFn),
            signals.map(Tagged::Signal as TagFn),
        );
        Ok(OwnerSignals {
            stream,
            name,
            owner,
            known_at,
            refused: 0,
        })
    }

    /// The next signal from the owner; `None` when the connection is closed.
    pub(crate) async fn next(&mut self) -> Option<Message> {
        while let Some(item) = self.stream.next().await {
            match item {
                Tagged::Owner(Ok(msg)) => self.owner_changed(&msg),
                Tagged::Signal(Ok(msg)) => {
                    let header = msg.header();
                    let from_owner = matches!(
                        (header.sender(), &self.owner),
                        (Some(sender), Some(owner)) if sender == owner.inner()
                    );
                    if from_owner {
                        return Some(msg);
                    }
                    self.refused = self.refused.saturating_add(1);
                    tracing::debug!(
                        "D-Bus: ignoring a {} signal from {:?}, which does not own {}",
                        header.member().map(|m| m.as_str()).unwrap_or("?"),
                        header.sender().map(|s| s.as_str()),
                        self.name
                    );
                }
                Tagged::Owner(Err(_)) | Tagged::Signal(Err(_)) => {}
            }
        }
        None
    }

    /// Signals refused so far because their sender did not own the name.
    pub(crate) fn refused(&self) -> u64 {
        self.refused
    }

    fn owner_changed(&mut self, msg: &Message) {
        if msg.recv_position() <= self.known_at {
            return;
        }
        let header = msg.header();
        // The rule already says so; the bus writes `sender`, so this cannot be forged.
        if header.sender().map(|s| s.as_str()) != Some(BUS_DRIVER) {
            return;
        }
        let Ok((name, _old, new)) = msg.body().deserialize::<(String, String, String)>() else {
            return;
        };
        if name != self.name {
            return;
        }
        self.owner = if new.is_empty() {
            None
        } else {
            OwnedUniqueName::try_from(new).ok()
        };
    }
}

impl std::fmt::Debug for OwnerSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerSignals")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("refused", &self.refused)
            .finish()
    }
}

/// The unique name owning `name` now (`None` if no one does), and where the answer
/// stands in the connection's received messages.
async fn name_owner(
    conn: &Connection,
    name: &str,
) -> zbus::Result<(Option<OwnedUniqueName>, Sequence)> {
    let reply = conn
        .call_method(
            Some(BUS_DRIVER),
            BUS_DRIVER_PATH,
            Some(BUS_DRIVER),
            "GetNameOwner",
            &(name,),
        )
        .await;
    match reply {
        Ok(msg) => {
            let owner: OwnedUniqueName = msg.body().deserialize()?;
            Ok((Some(owner), msg.recv_position()))
        }
        Err(zbus::Error::MethodError(error, _, msg))
            if error.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
        {
            Ok((None, msg.recv_position()))
        }
        Err(e) => Err(e),
    }
}
