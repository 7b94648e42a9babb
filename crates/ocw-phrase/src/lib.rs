#![doc = include_str!("../README.md")]
//!
//! # The code
//!
//! `ocw-phrase`: turns the oldest contact's age in the queue (`$.Metrics.Queue.OldestContactAge`,
//! seconds) into a spoken wait-time phrase, and decides whether the flow should offer a callback.
//!
//! No HTTP, no phone parsing: the function only reads the event and answers, so its cold start
//! is the runtime's own. The phrase rules live in [`phrase`]; this module maps the Connect event
//! and configuration onto them and builds the flat response.

pub mod phrase;

use std::time::Duration;

use mindful_core::config::{parse_u64, ConfigError};
use mindful_core::function::{ConnectFunction, Function};
use mindful_core::handler::Invocation;
use mindful_core::{ContactFlowEvent, Kvp};

use crate::phrase::{
    find_language, parse_seconds, InvalidSeconds, Language, LANGUAGES, ONE_MINUTE,
};

/// The function name in logs and metrics.
pub const FUNCTION_NAME: &str = "ocw-phrase";

/// `OCW_CAP_SECONDS` default: above ten minutes the caller hears "more than 10 minutes".
pub const DEFAULT_CAP_SECONDS: u64 = 600;
/// `OCW_OFFER_THRESHOLD_SECONDS` default: offer a callback from one minute of waiting.
pub const DEFAULT_OFFER_THRESHOLD_SECONDS: u64 = 60;
/// Upper bound of both settings (one day); a larger value is a typo (milliseconds?).
pub const MAX_SETTING_SECONDS: u64 = 86_400;

/// The invocation budget handed to the shared handler. Nothing here waits on I/O, so it is only
/// an upper bound for the log line.
const BUDGET: Duration = Duration::from_millis(1000);

/// Input parameter names (the contract flows are wired to).
pub mod params {
    pub const OCW: &str = "OCW";
    pub const AGENTS_AVAILABLE: &str = "agents_available";
    pub const LANGUAGE: &str = "language";
    pub const CAP_SECONDS: &str = "cap_seconds";
    pub const OFFER_THRESHOLD_SECONDS: &str = "offer_threshold_seconds";
    /// Second-chance offers: how many callback offers this contact has heard so far
    /// (`$.Attributes.callback_offers`; absent or blank = 0).
    pub const OFFERS_MADE: &str = "offers_made";
    /// Second-chance offers: the most offers one contact may hear (absent = no limit).
    pub const MAX_OFFERS: &str = "max_offers";
    /// The stack's default language (`DefaultLanguage`), used when neither `language` nor the
    /// contact's `LanguageCode` names a language of the table.
    pub const DEFAULT_LANGUAGE: &str = "default_language";
    /// The stack's voice overrides (`PollyVoices`): `es-US=Mia,fr-CA=Gabrielle`.
    pub const VOICES: &str = "voices";
    /// Which sentence the flow needs: `offer` (default: the wait, the offer decision and every
    /// sentence), `accepted` (the confirmation with Mindful's `ecbt`; `OCW` is not read) or
    /// `words` (only the voice and the sentences that need no wait: the callback-return flow).
    pub const PHRASE: &str = "phrase";
    /// With `phrase=accepted`: Mindful's estimated callback time in seconds (the Datastore
    /// POST answer's `ecbt`; empty or `null` when Mindful gave none).
    pub const ECBT: &str = "ecbt";
    /// Mindful's status for the Call Target, when the flow checked it: the Scheduler widget
    /// state datastore-proxy answered to `method=STATUS` (`offer_callback`, …,
    /// `platform_unavailable`), or any other word when the check failed. Absent or blank = not
    /// checked; otherwise a callback is offered only in a state where Mindful takes callbacks
    /// ([`mindful_core::scheduler::states::takes_callbacks`]).
    pub const MINDFUL_STATUS: &str = "mindful_status";
    pub const ALL: [&str; 12] = [
        OCW,
        AGENTS_AVAILABLE,
        LANGUAGE,
        CAP_SECONDS,
        OFFER_THRESHOLD_SECONDS,
        OFFERS_MADE,
        MAX_OFFERS,
        DEFAULT_LANGUAGE,
        VOICES,
        PHRASE,
        ECBT,
        MINDFUL_STATUS,
    ];
}

/// Values of the `phrase` parameter.
pub mod phrases {
    pub const OFFER: &str = "offer";
    pub const ACCEPTED: &str = "accepted";
    pub const WORDS: &str = "words";
    pub const ALL: [&str; 3] = [OFFER, ACCEPTED, WORDS];
}

/// Output keys this function owns. An input parameter with one of these names is not echoed:
/// the function's own value (or its absence) is what the flow reads.
pub mod keys {
    pub const OCW: &str = "OCW";
    pub const OCW_SECONDS: &str = "OCW_seconds";
    pub const OFFER_CALLBACK: &str = "offer_callback";
    pub const OCW_LANGUAGE: &str = "OCW_language";
    /// With `offers_made` given: the count after this decision (incremented when offering), for
    /// the flow to store back into `$.Attributes.callback_offers`.
    pub const OFFERS_MADE: &str = "offers_made";
    /// The caller's language as a tag of the table (`es-US`), on every answer: the flow keeps it
    /// in `$.Attributes.mindful_language` for the next invocations.
    pub const CALLER_LANGUAGE: &str = "caller_language";
    /// The Polly voice for that language (the stack's override, else the table's), on every
    /// answer: the flows' Set voice block.
    pub const VOICE: &str = "voice";
    /// The offer sentence with the wait phrase (`phrase=offer`, `status=ok`).
    pub const PROMPT_OFFER: &str = "prompt_offer";
    /// The confirmation after the caller accepts (with the estimated callback time when
    /// `phrase=accepted` and Mindful gave one), on every answer.
    pub const PROMPT_ACCEPTED: &str = "prompt_accepted";
    /// The second-chance queue flow's hold message, on every answer.
    pub const PROMPT_HOLD: &str = "prompt_hold";
    /// The sorry message before the flow hangs up, on every answer.
    pub const PROMPT_SORRY: &str = "prompt_sorry";
    /// The callback-return flow's sorry message, on every answer.
    pub const PROMPT_CALLBACK_SORRY: &str = "prompt_callback_sorry";
    pub use mindful_core::answer::outputs::{ERROR, ERROR_MESSAGE, STATUS};
    /// What every successful answer carries besides the echoed parameters.
    pub const ANSWERED: [&str; 11] = [
        OCW,
        OCW_SECONDS,
        OFFER_CALLBACK,
        OCW_LANGUAGE,
        CALLER_LANGUAGE,
        VOICE,
        PROMPT_OFFER,
        PROMPT_ACCEPTED,
        PROMPT_HOLD,
        PROMPT_SORRY,
        PROMPT_CALLBACK_SORRY,
    ];
    /// The sentences and the voice, answered whatever the status (they depend on the language
    /// alone), so the flow can speak to the caller on its error paths too.
    pub const WORDS: [&str; 6] = [
        VOICE,
        PROMPT_ACCEPTED,
        PROMPT_HOLD,
        PROMPT_SORRY,
        PROMPT_CALLBACK_SORRY,
        CALLER_LANGUAGE,
    ];
    pub const RESERVED: [&str; 13] = [
        OCW_SECONDS,
        OFFER_CALLBACK,
        OCW_LANGUAGE,
        CALLER_LANGUAGE,
        VOICE,
        PROMPT_OFFER,
        PROMPT_ACCEPTED,
        PROMPT_HOLD,
        PROMPT_SORRY,
        PROMPT_CALLBACK_SORRY,
        STATUS,
        ERROR,
        ERROR_MESSAGE,
    ];
}

/// `status` values.
pub mod statuses {
    pub const OK: &str = "ok";
    pub const ERROR: &str = mindful_core::answer::STATUS_ERROR;
    pub const ALL: [&str; 2] = [OK, ERROR];
}

/// Stable error codes (`$.External.error`).
pub mod codes {
    /// `OCW_CAP_SECONDS` or `OCW_OFFER_THRESHOLD_SECONDS` is set to an invalid value.
    pub use mindful_core::answer::codes::INVALID_CONFIG;
    pub use mindful_core::answer::codes::{INVALID_EVENT, RESPONSE_TOO_LARGE};
    /// `OCW` missing, empty, not a number, negative, NaN or infinite.
    pub const INVALID_OCW: &str = "invalid_ocw";
    /// A per-call parameter (`cap_seconds`, `offer_threshold_seconds`, `offers_made`,
    /// `max_offers`, `phrase`, `ecbt`, `voices`) is not a valid value.
    pub const INVALID_PARAMETER: &str = "invalid_parameter";
    /// Every code, when it is answered and an `error_message` example: the README's error table
    /// is written from this by `cargo xtask contract` (CI checks it is current).
    pub const TABLE: [mindful_core::answer::codes::CodeDoc; 5] = [
        (INVALID_OCW, "`OCW` missing, empty, non-numeric, negative, NaN or infinite", "`OCW is not a number; expected the oldest contact age in seconds`"),
        (INVALID_PARAMETER, "`cap_seconds` / `offer_threshold_seconds` / `offers_made` / `max_offers` given but not a number or out of range; `phrase` not `offer`/`accepted`; `ecbt` not a number of seconds; `voices` malformed or naming a language the table lacks (the parameter is named first)", "`cap_seconds is out of range; expected whole seconds from 60 to 86400`, `voices gives es-US the voice \"M1a\", which is not a Polly voice name; expected TAG=Voice pairs separated by commas, e.g. es-US=Mia,fr-CA=Gabrielle`"),
        (INVALID_CONFIG, "`OCW_CAP_SECONDS` / `OCW_OFFER_THRESHOLD_SECONDS` invalid", "`configuration error: OCW_CAP_SECONDS has an invalid value: expected an integer from 60 to 86400`"),
        (RESPONSE_TOO_LARGE, "the echoed parameters push the answer past Connect's 32 KB limit", ""),
        (INVALID_EVENT, "the event is not JSON at all (Connect never sends this)", "`the event is not valid JSON: EOF while parsing a value at line 1 column 0`"),
    ];
    pub const ALL: [&str; 5] = mindful_core::answer::codes::names(&TABLE);
}

/// Settings read once from the environment at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `OCW_CAP_SECONDS` (60..=86400, default 600).
    pub cap_seconds: u64,
    /// `OCW_OFFER_THRESHOLD_SECONDS` (0..=86400, default 60).
    pub offer_threshold_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cap_seconds: DEFAULT_CAP_SECONDS,
            offer_threshold_seconds: DEFAULT_OFFER_THRESHOLD_SECONDS,
        }
    }
}

impl Config {
    /// Reads `OCW_CAP_SECONDS` and `OCW_OFFER_THRESHOLD_SECONDS` (whole seconds; blank = unset).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            cap_seconds: parse_u64(
                env,
                "OCW_CAP_SECONDS",
                DEFAULT_CAP_SECONDS,
                ONE_MINUTE,
                MAX_SETTING_SECONDS,
            )?,
            offer_threshold_seconds: parse_u64(
                env,
                "OCW_OFFER_THRESHOLD_SECONDS",
                DEFAULT_OFFER_THRESHOLD_SECONDS,
                0,
                MAX_SETTING_SECONDS,
            )?,
        })
    }
}

/// What `main` keeps for the process: the configuration, or why it is invalid. An invalid
/// configuration does not stop the function: every invocation answers `error=invalid_config`,
/// so the flow keeps its context and takes its error branch instead of Connect retrying.
pub type Settings = Result<Config, ConfigError>;

/// The function: pure, so it holds nothing; its configuration comes with [`Function`].
pub struct OcwPhrase;

impl OcwPhrase {
    /// The served function (what `main` runs and the tests invoke).
    pub fn served(settings: Settings) -> Function<Self> {
        Function::new(Self, settings)
    }
}

impl ConnectFunction for OcwPhrase {
    const NAME: &'static str = FUNCTION_NAME;
    type Config = Config;
    type Failure = Failure;

    fn budget(_: Option<&Config>) -> Duration {
        BUDGET
    }

    fn execute<'a>(
        &'a self,
        config: &'a Config,
        inv: &'a mut Invocation,
    ) -> impl std::future::Future<Output = Result<Kvp, Failure>> + Send + 'a {
        // Every outcome, failures included, is an answer carrying the caller's words.
        std::future::ready(Ok(answer_for(Ok(config), &inv.event)))
    }

    /// Only an invalid configuration reaches here: answered with the caller's words too.
    fn failure_answer(&self, event: &ContactFlowEvent, failure: &Failure) -> Kvp {
        match failure {
            Failure::Config(e) => answer_for(Err(Failure::Config(e.clone())), event),
            other => mindful_core::answer::error_answer(other),
        }
    }
}

/// The outcome of the phrase rules for one event, before it is merged with the echoed input.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spoken {
    phrase: String,
    seconds: u64,
    offer_callback: bool,
    /// `Some(count after this decision)` when the flow passed `offers_made`.
    offers_made: Option<u64>,
}

/// A failure, mapped once to the error keys by [`mindful_core::answer::error_answer`].
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("OCW {0}; expected the oldest contact age in seconds")]
    InvalidOcw(InvalidSeconds),
    #[error("{name} {why}; expected whole seconds from {min} to {MAX_SETTING_SECONDS}")]
    InvalidOverride {
        name: &'static str,
        why: String,
        min: u64,
    },
    #[error("{0} is not a count; expected a whole number from 0 to 1000")]
    InvalidCount(&'static str),
    #[error("phrase is not one of offer, accepted, words")]
    InvalidPhrase,
    #[error("ecbt {0}; expected Mindful's estimated callback time in seconds, or empty")]
    InvalidEcbt(InvalidSeconds),
    #[error(
        "voices {0}; expected TAG=Voice pairs separated by commas, e.g. es-US=Mia,fr-CA=Gabrielle"
    )]
    InvalidVoices(String),
}

impl mindful_core::answer::Failure for Failure {
    fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => codes::INVALID_CONFIG,
            Self::InvalidOcw(_) => codes::INVALID_OCW,
            Self::InvalidOverride { .. }
            | Self::InvalidCount(_)
            | Self::InvalidPhrase
            | Self::InvalidEcbt(_)
            | Self::InvalidVoices(_) => codes::INVALID_PARAMETER,
        }
    }
}

/// Builds the response for one event: every input parameter echoed, `OCW` replaced by the
/// phrase, plus `OCW_seconds`, `offer_callback`, `OCW_language`, the caller's language, voice
/// and sentences, and `status`.
pub fn answer(settings: &Settings, event: &ContactFlowEvent) -> Kvp {
    answer_for(
        settings.as_ref().map_err(|e| Failure::Config(e.clone())),
        event,
    )
}

/// [`answer`] with the configuration, or the failure that stands in for it.
fn answer_for(config: Result<&Config, Failure>, event: &ContactFlowEvent) -> Kvp {
    let mut out = Kvp::new();
    for (key, value) in event.parameters() {
        if !keys::RESERVED.contains(&key.as_str()) {
            out.set(key.as_str(), value.as_str());
        }
    }
    let language = choose_language(event);
    out.set(keys::OCW_LANGUAGE, language.code);
    out.set(keys::CALLER_LANGUAGE, language.tag);
    // The words depend on the language alone, so they are answered whatever the status: the
    // flow speaks its sorry message and hold message in the caller's language on every path.
    let voice = voice_for(event, language);
    out.set(
        keys::VOICE,
        voice.as_deref().unwrap_or(language.voice).to_string(),
    );
    out.set(keys::PROMPT_ACCEPTED, language.accepted);
    out.set(keys::PROMPT_HOLD, language.hold);
    out.set(keys::PROMPT_SORRY, language.sorry);
    out.set(keys::PROMPT_CALLBACK_SORRY, language.sorry_callback);
    let outcome = config
        .and_then(|config| match phrase_param(event)? {
            Phrase::Offer => speak(config, event, language).map(Outcome::Offer),
            Phrase::Accepted => accepted(config, event, language).map(Outcome::Accepted),
            Phrase::Words => Ok(Outcome::Words),
        })
        .and_then(|outcome| voice.map(|_| outcome));
    match outcome {
        Ok(Outcome::Offer(spoken)) => {
            out.set(keys::PROMPT_OFFER, (language.offer)(&spoken.phrase));
            out.set(keys::OCW, spoken.phrase);
            out.set(keys::OCW_SECONDS, spoken.seconds.to_string());
            out.set(keys::OFFER_CALLBACK, bool_str(spoken.offer_callback));
            if let Some(count) = spoken.offers_made {
                out.set(keys::OFFERS_MADE, count.to_string());
            }
            out.set(keys::STATUS, statuses::OK);
        }
        Ok(Outcome::Accepted(sentence)) => {
            out.set(keys::PROMPT_ACCEPTED, sentence);
            out.set(keys::OFFER_CALLBACK, bool_str(false));
            out.set(keys::STATUS, statuses::OK);
        }
        Ok(Outcome::Words) => {
            out.set(keys::OFFER_CALLBACK, bool_str(false));
            out.set(keys::STATUS, statuses::OK);
        }
        Err(failure) => {
            // `OCW` keeps the value as given (already echoed), so a prompt that plays it
            // regardless of the status is not garbled by an error text.
            out.set(keys::OFFER_CALLBACK, bool_str(false));
            for (key, value) in mindful_core::answer::error_answer(&failure).iter() {
                out.set(key.as_str(), value.as_str());
            }
        }
    }
    out
}

/// What the invocation asked for, computed.
enum Outcome {
    Offer(Spoken),
    /// The confirmation sentence.
    Accepted(String),
    /// The words alone (set on every answer).
    Words,
}

/// The `phrase` parameter.
enum Phrase {
    Offer,
    Accepted,
    Words,
}

fn phrase_param(event: &ContactFlowEvent) -> Result<Phrase, Failure> {
    match event.param(params::PHRASE).map(str::trim) {
        None | Some("") => Ok(Phrase::Offer),
        Some(p) if p.eq_ignore_ascii_case(phrases::OFFER) => Ok(Phrase::Offer),
        Some(p) if p.eq_ignore_ascii_case(phrases::ACCEPTED) => Ok(Phrase::Accepted),
        Some(p) if p.eq_ignore_ascii_case(phrases::WORDS) => Ok(Phrase::Words),
        Some(_) => Err(Failure::InvalidPhrase),
    }
}

/// The caller's language: the `language` parameter (a flow attribute), else the contact's
/// `LanguageCode`, else the stack's `default_language`, each taken only when the table has that
/// language; else English.
fn choose_language(event: &ContactFlowEvent) -> &'static Language {
    [
        event.param(params::LANGUAGE),
        event.language_code(),
        event.param(params::DEFAULT_LANGUAGE),
    ]
    .into_iter()
    .flatten()
    .find_map(find_language)
    .unwrap_or(&phrase::ENGLISH)
}

/// The voice for `language`: the stack's override from `voices` (`TAG=Voice,…`, tags of the
/// table, case-insensitive), else the table's. A malformed `voices` is `invalid_parameter`.
fn voice_for(event: &ContactFlowEvent, language: &Language) -> Result<String, Failure> {
    let Some(raw) = event.param(params::VOICES) else {
        return Ok(language.voice.to_string());
    };
    let mut chosen = None;
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((tag, voice)) = pair.split_once('=') else {
            return Err(Failure::InvalidVoices(format!("has {pair:?} without '='")));
        };
        let (tag, voice) = (tag.trim(), voice.trim());
        let Some(entry) = LANGUAGES.iter().find(|l| l.tag.eq_ignore_ascii_case(tag)) else {
            return Err(Failure::InvalidVoices(format!(
                "names {tag:?}, which is not a language of the table ({})",
                LANGUAGES.map(|l| l.tag).join(", ")
            )));
        };
        // Polly voice names are one word of letters ("Joanna", "Léa", "Vitória").
        if !(2..=20).contains(&voice.chars().count()) || !voice.chars().all(char::is_alphabetic) {
            return Err(Failure::InvalidVoices(format!(
                "gives {tag} the voice {voice:?}, which is not a Polly voice name"
            )));
        }
        if std::ptr::eq(*entry, language) {
            chosen = Some(voice.to_string());
        }
    }
    Ok(chosen.unwrap_or_else(|| language.voice.to_string()))
}

/// The confirmation after the caller accepted: with Mindful's estimated callback time (`ecbt`,
/// whole seconds) said by the wait's own phrase rules and cap, or the sentence without a time
/// when Mindful gave none (`ecbt` absent, empty or `null`).
fn accepted(
    config: &Config,
    event: &ContactFlowEvent,
    language: &Language,
) -> Result<String, Failure> {
    let cap_seconds = override_or(event, params::CAP_SECONDS, config.cap_seconds, ONE_MINUTE)?;
    match event.param(params::ECBT).map(str::trim) {
        None | Some("") => Ok(language.accepted.to_string()),
        Some(v) if v.eq_ignore_ascii_case("null") => Ok(language.accepted.to_string()),
        Some(v) => {
            let seconds = parse_seconds(Some(v)).map_err(Failure::InvalidEcbt)?;
            Ok((language.accepted_in)(
                &language.phrase(seconds, cap_seconds),
            ))
        }
    }
}

fn speak(
    config: &Config,
    event: &ContactFlowEvent,
    language: &Language,
) -> Result<Spoken, Failure> {
    let seconds = parse_seconds(event.param(params::OCW)).map_err(Failure::InvalidOcw)?;
    let cap_seconds = override_or(event, params::CAP_SECONDS, config.cap_seconds, ONE_MINUTE)?;
    let offer_threshold_seconds = override_or(
        event,
        params::OFFER_THRESHOLD_SECONDS,
        config.offer_threshold_seconds,
        0,
    )?;
    let offers_made = count_param(event, params::OFFERS_MADE)?;
    let max_offers = count_param(event, params::MAX_OFFERS)?;
    let under_limit = match (offers_made, max_offers) {
        (made, Some(max)) => made.unwrap_or(0) < max,
        (_, None) => true,
    };
    let offer_callback = offer_callback(&OfferFacts {
        wait_seconds: seconds,
        threshold_seconds: offer_threshold_seconds,
        agents_available: agents_available(event),
        offers_left: under_limit,
        mindful_takes_callbacks: mindful_takes_callbacks(event),
    });
    // Echo the count back only when the flow counts offers (second-chance queue flow), so
    // the first-offer flow's response stays as it was.
    let offers_made = match (offers_made, max_offers) {
        (None, None) => None,
        (made, _) => Some(made.unwrap_or(0) + u64::from(offer_callback)),
    };
    Ok(Spoken {
        phrase: language.phrase(seconds, cap_seconds),
        seconds,
        offer_callback,
        offers_made,
    })
}

/// What the offer decision looks at, each read from the event by the rules above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferFacts {
    /// The oldest contact's age in whole seconds (`OCW`).
    pub wait_seconds: u64,
    /// `OCW_OFFER_THRESHOLD_SECONDS` or the `offer_threshold_seconds` parameter.
    pub threshold_seconds: u64,
    /// `agents_available` is a count above 0.
    pub agents_available: bool,
    /// Under `max_offers` (or no cap).
    pub offers_left: bool,
    /// `mindful_status` absent, or a state in which Mindful takes callbacks.
    pub mindful_takes_callbacks: bool,
}

/// The offer rule, the one place it is written: offer once the wait reaches the threshold,
/// while no agent is free, offers are left and Mindful takes callbacks.
pub fn offer_callback(facts: &OfferFacts) -> bool {
    facts.wait_seconds >= facts.threshold_seconds
        && !facts.agents_available
        && facts.offers_left
        && facts.mindful_takes_callbacks
}

/// A per-call override in seconds (decimals floored like `OCW`), within `min..=86400`;
/// absent or blank → the configured value.
fn override_or(
    event: &ContactFlowEvent,
    name: &'static str,
    configured: u64,
    min: u64,
) -> Result<u64, Failure> {
    let Some(raw) = event.param(name) else {
        return Ok(configured);
    };
    let invalid = |why: String| Failure::InvalidOverride { name, why, min };
    match parse_seconds(Some(raw)) {
        Ok(v) if (min..=MAX_SETTING_SECONDS).contains(&v) => Ok(v),
        Ok(_) => Err(invalid("is out of range".into())),
        Err(why) => Err(invalid(why.to_string())),
    }
}

/// A whole-number count parameter (`offers_made`, `max_offers`): absent or blank → `None`;
/// anything but a non-negative integer up to 1000 → `invalid_parameter`.
fn count_param(event: &ContactFlowEvent, name: &'static str) -> Result<Option<u64>, Failure> {
    let Some(raw) = event.param(name) else {
        return Ok(None);
    };
    match raw.parse::<u64>() {
        Ok(v) if v <= 1000 => Ok(Some(v)),
        _ => Err(Failure::InvalidCount(name)),
    }
}

/// Whether Mindful takes callbacks for this Call Target: true when the flow did not check
/// (`mindful_status` absent or blank), else only in one of Mindful's offer states. A failed
/// check (the flow passes `error`) or an undocumented state means no offer: the caller queues.
fn mindful_takes_callbacks(event: &ContactFlowEvent) -> bool {
    match event.param(params::MINDFUL_STATUS).map(str::trim) {
        None | Some("") => true,
        Some(state) => {
            let takes = mindful_core::scheduler::states::takes_callbacks(state);
            if !takes {
                tracing::info!(
                    mindful_status = state,
                    "Mindful takes no callbacks now: no offer"
                );
            }
            takes
        }
    }
}

/// Whether agents are known to be available. Absent, blank or 0 (`"0"`, `"0.0"`) → false.
/// A value that is not a count (`"abc"`, `"-1"`, `"NaN"`) is treated as unknown, i.e. as absent:
/// the offer then depends on the wait alone, and the flow still speaks the hold time.
fn agents_available(event: &ContactFlowEvent) -> bool {
    match parse_seconds(event.param(params::AGENTS_AVAILABLE)) {
        Ok(count) => count > 0,
        Err(InvalidSeconds::Missing) => false,
        Err(why) => {
            tracing::warn!(
                parameter = params::AGENTS_AVAILABLE,
                reason = %why,
                "agents_available is not a count; ignored"
            );
            false
        }
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mindful_core::handler::test_event;
    use serde_json::{json, Value};
    use std::collections::BTreeMap;

    type Response = BTreeMap<String, String>;

    fn config() -> Settings {
        Ok(Config::default())
    }

    /// A full voice event as Connect sends it, with `params` as the block's parameters.
    fn connect_event(params: Value, language_code: &str) -> Value {
        json!({
            "Name": "ContactFlowEvent",
            "Details": {
                "Parameters": params,
                "ContactData": {
                    "Attributes": {"segment": "gold"},
                    "Channel": "VOICE",
                    "ContactId": "5ca32fbd-8f92-46af-92a5-6b0f970f0efe",
                    "InitialContactId": "5ca32fbd-8f92-46af-92a5-6b0f970f0efe",
                    "InitiationMethod": "INBOUND",
                    "InstanceARN": "arn:aws:connect:us-east-1:111122223333:instance/9308c2a1-9bc6-4cea-8290-6c0b4a6d38fa",
                    "LanguageCode": language_code,
                    "AwsRegion": "us-east-1",
                    "CustomerEndpoint": {"Address": "+13209071234", "Type": "TELEPHONE_NUMBER"},
                    "SystemEndpoint": {"Address": "+18005550100", "Type": "TELEPHONE_NUMBER"},
                    "Queue": {
                        "ARN": "arn:aws:connect:us-east-1:111122223333:instance/9308c2a1-9bc6-4cea-8290-6c0b4a6d38fa/queue/7b2d3f10-1c3e-4a55-9f1e-2a5c8e6d4b01",
                        "Name": "Billing",
                        "OutboundCallerId": {"Address": "+18005550101", "Type": "TELEPHONE_NUMBER"}
                    },
                    "SegmentAttributes": {"connect:Subtype": {"ValueString": "connect:Telephony"}},
                    "Tags": {},
                    "MediaStreams": null
                }
            }
        })
    }

    async fn invoke_with(settings: &Settings, payload: Value) -> Response {
        match OcwPhrase::served(settings.clone())
            .handle(test_event(payload))
            .await
        {
            Ok(kvp) => kvp.into_inner(),
            Err(never) => match never {},
        }
    }

    async fn invoke(payload: Value) -> Response {
        invoke_with(&config(), payload).await
    }

    fn get<'a>(r: &'a Response, k: &str) -> Option<&'a str> {
        r.get(k).map(String::as_str)
    }

    /// `OCW`, `agents_available`, `language` → `status`, `OCW` out, `OCW_seconds`, `offer_callback`.
    type Case = (
        Value,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    );

    #[tokio::test]
    async fn handler_table() {
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (json!("125"), None, None, "ok", "about 3 minutes", Some("125"), "true"),
            (json!("0"), None, None, "ok", "less than one minute", Some("0"), "false"),
            (json!("1"), None, None, "ok", "less than one minute", Some("1"), "false"),
            (json!("59"), None, None, "ok", "less than one minute", Some("59"), "false"),
            (json!("59.9"), None, None, "ok", "less than one minute", Some("59"), "false"),
            (json!("60"), None, None, "ok", "about 1 minute", Some("60"), "true"),
            (json!("60"), Some("0"), None, "ok", "about 1 minute", Some("60"), "true"),
            (json!("60"), Some("0.0"), None, "ok", "about 1 minute", Some("60"), "true"),
            (json!("60"), Some(""), None, "ok", "about 1 minute", Some("60"), "true"),
            (json!("60"), Some("2"), None, "ok", "about 1 minute", Some("60"), "false"),
            (json!("60"), Some("1.0"), None, "ok", "about 1 minute", Some("60"), "false"),
            (json!("60"), Some("abc"), None, "ok", "about 1 minute", Some("60"), "true"),
            (json!("61"), None, None, "ok", "about 2 minutes", Some("61"), "true"),
            (json!("65.3"), None, None, "ok", "about 2 minutes", Some("65"), "true"),
            (json!("24.0"), None, None, "ok", "less than one minute", Some("24"), "false"),
            (json!("119"), None, None, "ok", "about 2 minutes", Some("119"), "true"),
            (json!("120"), None, None, "ok", "about 2 minutes", Some("120"), "true"),
            (json!("599"), None, None, "ok", "about 10 minutes", Some("599"), "true"),
            (json!("600"), None, None, "ok", "about 10 minutes", Some("600"), "true"),
            (json!("600.9"), None, None, "ok", "about 10 minutes", Some("600"), "true"),
            (json!("601"), None, None, "ok", "more than 10 minutes", Some("601"), "true"),
            (json!("3599"), None, None, "ok", "more than 10 minutes", Some("3599"), "true"),
            (json!("3600"), None, None, "ok", "more than 10 minutes", Some("3600"), "true"),
            (json!("3601"), Some("4"), None, "ok", "more than 10 minutes", Some("3601"), "false"),
            (json!(125), None, None, "ok", "about 3 minutes", Some("125"), "true"),
            (json!(24.613), None, None, "ok", "less than one minute", Some("24"), "false"),
            (json!("0"), None, Some("es-MX"), "ok", "menos de un minuto", Some("0"), "false"),
            (json!("60"), None, Some("es-MX"), "ok", "aproximadamente 1 minuto", Some("60"), "true"),
            (json!("601"), None, Some("es-MX"), "ok", "más de 10 minutos", Some("601"), "true"),
            (json!("59"), None, Some("fr-CA"), "ok", "moins d'une minute", Some("59"), "false"),
            (json!("61"), None, Some("fr-CA"), "ok", "environ 2 minutes", Some("61"), "true"),
            (json!("3600"), None, Some("fr-FR"), "ok", "plus de 10 minutes", Some("3600"), "true"),
            (json!("61"), None, Some("de-DE"), "ok", "about 2 minutes", Some("61"), "true"),
            (json!(""), None, None, "error", "", None, "false"),
            (json!("abc"), None, None, "error", "abc", None, "false"),
            (json!("-5"), None, None, "error", "-5", None, "false"),
            (json!("NaN"), None, None, "error", "NaN", None, "false"),
            (json!("inf"), None, None, "error", "inf", None, "false"),
            (json!("Infinity"), None, None, "error", "Infinity", None, "false"),
            (json!("abc"), None, Some("es-MX"), "error", "abc", None, "false"),
            (json!("-5"), Some("0"), Some("fr-FR"), "error", "-5", None, "false"),
            (json!(null), None, None, "error", "", None, "false"),
            (json!(true), None, None, "error", "true", None, "false"),
        ];
        for (ocw, agents, language, status, phrase, seconds, offer) in cases {
            let mut params = json!({"OCW": ocw, "queue": "Billing"});
            if let Some(a) = agents {
                params["agents_available"] = json!(a);
            }
            if let Some(l) = language {
                params["language"] = json!(l);
            }
            let r = invoke(connect_event(params, "en-US")).await;
            let ctx = format!("OCW={ocw} agents={agents:?} language={language:?}: {r:?}");
            assert_eq!(get(&r, "status"), Some(*status), "{ctx}");
            assert_eq!(get(&r, "OCW"), Some(*phrase), "{ctx}");
            assert_eq!(get(&r, "OCW_seconds"), *seconds, "{ctx}");
            assert_eq!(get(&r, "offer_callback"), Some(*offer), "{ctx}");
            assert_eq!(get(&r, "queue"), Some("Billing"), "{ctx}");
            assert_eq!(get(&r, "agents_available"), *agents, "{ctx}");
            assert_eq!(get(&r, "language"), *language, "{ctx}");
            if *status == "error" {
                assert_eq!(get(&r, "error"), Some("invalid_ocw"), "{ctx}");
                let msg = get(&r, "error_message").unwrap_or_default();
                assert!(msg.starts_with("OCW "), "{ctx}");
            } else {
                assert_eq!(get(&r, "error"), None, "{ctx}");
                assert_eq!(get(&r, "error_message"), None, "{ctx}");
            }
        }
    }

    #[tokio::test]
    async fn missing_ocw_is_invalid() {
        let r = invoke(connect_event(json!({"agents_available": "0"}), "en-US")).await;
        assert_eq!(get(&r, "status"), Some("error"));
        assert_eq!(get(&r, "error"), Some("invalid_ocw"));
        assert_eq!(get(&r, "offer_callback"), Some("false"));
        assert_eq!(get(&r, "OCW"), None);
        assert_eq!(get(&r, "agents_available"), Some("0"));
    }

    #[tokio::test]
    async fn typical_event_echoes_every_parameter() {
        let r = invoke(connect_event(
            json!({"OCW": "125", "agents_available": "0", "queue_name": "Billing", "note": "a b c", "empty": ""}),
            "en-US",
        ))
        .await;
        #[rustfmt::skip]
        let want: Response = [
            ("OCW", "about 3 minutes"), ("OCW_seconds", "125"), ("OCW_language", "en"),
            ("agents_available", "0"), ("empty", ""), ("note", "a b c"),
            ("offer_callback", "true"), ("queue_name", "Billing"), ("status", "ok"),
            ("caller_language", "en-US"), ("voice", "Joanna"),
            ("prompt_offer", "The current hold time is about 3 minutes. To receive a callback, press 1, or stay on the line."),
            ("prompt_accepted", "Thank you. We will call you back as soon as an agent is available."),
            ("prompt_hold", "Thank you for holding. The next available agent will be with you shortly."),
            ("prompt_sorry", "We are sorry, we cannot take your call right now. Please call again later. Goodbye."),
            ("prompt_callback_sorry", "We are sorry, we cannot connect your callback right now. Goodbye."),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(r, want);
    }

    #[tokio::test]
    async fn contact_language_code_chooses_the_phrase_set() {
        #[rustfmt::skip]
        let cases = [
            ("es-MX", "30", "menos de un minuto", "es"),
            ("es-US", "60", "aproximadamente 1 minuto", "es"),
            ("es-ES", "3601", "más de 10 minutos", "es"),
            ("fr-CA", "30", "moins d'une minute", "fr"),
            ("fr-FR", "119", "environ 2 minutes", "fr"),
            ("fr-FR", "700", "plus de 10 minutes", "fr"),
            ("en-GB", "60", "about 1 minute", "en"),
            ("ja-JP", "60", "about 1 minute", "en"),
            ("", "60", "about 1 minute", "en"),
        ];
        for (code, seconds, phrase, lang) in cases {
            let r = invoke(connect_event(json!({ "OCW": seconds }), code)).await;
            assert_eq!(get(&r, "OCW"), Some(phrase), "{code}");
            assert_eq!(get(&r, "OCW_language"), Some(lang), "{code}");
        }
        // The `language` parameter wins over the contact's LanguageCode, and is echoed as given.
        let r = invoke(connect_event(
            json!({"OCW": "61", "language": "fr-FR"}),
            "es-MX",
        ))
        .await;
        assert_eq!(get(&r, "OCW"), Some("environ 2 minutes"));
        assert_eq!(get(&r, "language"), Some("fr-FR"));
        assert_eq!(get(&r, "OCW_language"), Some("fr"));
        // A blank `language` parameter falls back to the contact's LanguageCode.
        let r = invoke(connect_event(json!({"OCW": "61", "language": ""}), "es-MX")).await;
        assert_eq!(get(&r, "OCW"), Some("aproximadamente 2 minutos"));
        assert_eq!(get(&r, "language"), Some(""));
        // No LanguageCode at all: English.
        let r = invoke(json!({"Details": {"Parameters": {"OCW": "61"}}})).await;
        assert_eq!(get(&r, "OCW"), Some("about 2 minutes"));
    }

    #[tokio::test]
    async fn tolerant_event_shapes() {
        // Null endpoints and queue (chat/task/API contact).
        let r = invoke(json!({"Name":"ContactFlowEvent","Details":{"ContactData":{
            "Attributes":{},"Channel":"CHAT","ContactId":"x","CustomerEndpoint":null,
            "InitialContactId":"x","InitiationMethod":"API","InstanceARN":"arn","PreviousContactId":"x",
            "Queue":null,"SystemEndpoint":null},"Parameters":{"OCW":"90"}}}))
        .await;
        assert_eq!(get(&r, "status"), Some("ok"));
        assert_eq!(get(&r, "OCW"), Some("about 2 minutes"));

        // Missing Parameters, empty Parameters, no ContactData, not even an object.
        for payload in [
            json!({"Name":"ContactFlowEvent","Details":{"ContactData":{"Channel":"VOICE","LanguageCode":"fr-FR"}}}),
            json!({"Name":"ContactFlowEvent","Details":{"Parameters":{},"ContactData":null}}),
            json!({"Details":{"Parameters":null}}),
            json!({}),
            json!(null),
            json!("OCW"),
            json!([1, 2]),
        ] {
            let r = invoke(payload.clone()).await;
            assert_eq!(get(&r, "status"), Some("error"), "{payload}");
            assert_eq!(get(&r, "error"), Some("invalid_ocw"), "{payload}");
            assert_eq!(get(&r, "offer_callback"), Some("false"), "{payload}");
            assert_eq!(get(&r, "OCW"), None, "{payload}");
            assert_eq!(
                get(&r, "error_message"),
                Some("OCW is missing or empty; expected the oldest contact age in seconds")
            );
        }
    }

    /// The rule itself: each fact alone can withhold the offer.
    #[test]
    fn offer_rule_table() {
        let yes = OfferFacts {
            wait_seconds: 60,
            threshold_seconds: 60,
            agents_available: false,
            offers_left: true,
            mindful_takes_callbacks: true,
        };
        assert!(offer_callback(&yes));
        for (no, why) in [
            (
                OfferFacts {
                    wait_seconds: 59,
                    ..yes
                },
                "short wait",
            ),
            (
                OfferFacts {
                    agents_available: true,
                    ..yes
                },
                "an agent is free",
            ),
            (
                OfferFacts {
                    offers_left: false,
                    ..yes
                },
                "offer cap reached",
            ),
            (
                OfferFacts {
                    mindful_takes_callbacks: false,
                    ..yes
                },
                "Mindful takes none",
            ),
        ] {
            assert!(!offer_callback(&no), "{why}");
        }
        assert!(offer_callback(&OfferFacts {
            wait_seconds: 0,
            threshold_seconds: 0,
            ..yes
        }));
    }

    /// Mindful's widget status gates the offer: (mindful_status, offer_callback). Above the
    /// threshold with no agents, only a state in which Mindful takes callbacks keeps the offer.
    #[tokio::test]
    async fn mindful_status_gates_the_offer() {
        let rows: &[(Option<&str>, &str)] = &[
            (None, "true"),
            (Some(""), "true"),
            (Some("offer_callback"), "true"),
            (Some("offer_asap_callback"), "true"),
            (Some(" offer_scheduled_callback "), "true"),
            (Some("display_ewt_only"), "false"),
            (Some("platform_unavailable"), "false"),
            // What the shipped flows pass when the status check failed or timed out.
            (Some("error"), "false"),
            // Undocumented or misspelled: no offer rather than a guess.
            (Some("OFFER_CALLBACK"), "false"),
            (Some("maintenance"), "false"),
        ];
        for (status, want) in rows {
            let mut params = json!({"OCW": "185"});
            if let Some(s) = status {
                params["mindful_status"] = json!(s);
            }
            let r = invoke(connect_event(params, "en-US")).await;
            assert_eq!(get(&r, "status"), Some("ok"), "{status:?}");
            assert_eq!(get(&r, "offer_callback"), Some(*want), "{status:?}");
            assert_eq!(get(&r, "OCW"), Some("about 4 minutes"), "{status:?}");
        }
    }

    #[tokio::test]
    async fn per_call_overrides() {
        #[rustfmt::skip]
        let cases: &[(Value, &str, &str)] = &[
            (json!({"OCW":"700","cap_seconds":"900"}), "about 12 minutes", "true"),
            (json!({"OCW":"901","cap_seconds":"900"}), "more than 15 minutes", "true"),
            (json!({"OCW":"901","cap_seconds":900}), "more than 15 minutes", "true"),
            (json!({"OCW":"901","cap_seconds":"900.7"}), "more than 15 minutes", "true"),
            (json!({"OCW":"3601","cap_seconds":"3600"}), "more than 1 hour", "true"),
            (json!({"OCW":"5401","cap_seconds":"5400"}), "more than 1 hour and 30 minutes", "true"),
            (json!({"OCW":"7201","cap_seconds":"7200"}), "more than 2 hours", "true"),
            (json!({"OCW":"3601","cap_seconds":"3600","language":"es"}), "más de una hora", "true"),
            (json!({"OCW":"5401","cap_seconds":"5400","language":"es"}), "más de 1 hora y 30 minutos", "true"),
            (json!({"OCW":"7201","cap_seconds":"7200","language":"es"}), "más de 2 horas", "true"),
            (json!({"OCW":"3601","cap_seconds":"3600","language":"fr"}), "plus d'une heure", "true"),
            (json!({"OCW":"7201","cap_seconds":"7200","language":"fr"}), "plus de 2 heures", "true"),
            (json!({"OCW":"61","cap_seconds":"60"}), "more than 1 minute", "true"),
            (json!({"OCW":"61","cap_seconds":""}), "about 2 minutes", "true"),
            (json!({"OCW":"30","offer_threshold_seconds":"30"}), "less than one minute", "true"),
            (json!({"OCW":"0","offer_threshold_seconds":"0"}), "less than one minute", "true"),
            (json!({"OCW":"0","offer_threshold_seconds":"0","agents_available":"3"}), "less than one minute", "false"),
            (json!({"OCW":"119","offer_threshold_seconds":"120"}), "about 2 minutes", "false"),
            (json!({"OCW":"120","offer_threshold_seconds":"120"}), "about 2 minutes", "true"),
        ];
        for (params, phrase, offer) in cases {
            let r = invoke(connect_event(params.clone(), "en-US")).await;
            assert_eq!(get(&r, "status"), Some("ok"), "{params}: {r:?}");
            assert_eq!(get(&r, "OCW"), Some(*phrase), "{params}");
            assert_eq!(get(&r, "offer_callback"), Some(*offer), "{params}");
            if let Some(cap) = params.get("cap_seconds") {
                // Echoed unchanged (as Connect's string).
                let want = mindful_core::event::value_to_string(cap);
                assert_eq!(get(&r, "cap_seconds"), Some(want.as_str()));
            }
        }
    }

    #[tokio::test]
    async fn invalid_overrides_answer_invalid_parameter() {
        #[rustfmt::skip]
        let cases = [
            (json!({"OCW":"61","cap_seconds":"abc"}), "cap_seconds"),
            (json!({"OCW":"61","cap_seconds":"-600"}), "cap_seconds"),
            (json!({"OCW":"61","cap_seconds":"59"}), "cap_seconds"),
            (json!({"OCW":"61","cap_seconds":"0"}), "cap_seconds"),
            (json!({"OCW":"61","cap_seconds":"86401"}), "cap_seconds"),
            (json!({"OCW":"61","cap_seconds":"inf"}), "cap_seconds"),
            (json!({"OCW":"61","offer_threshold_seconds":"NaN"}), "offer_threshold_seconds"),
            (json!({"OCW":"61","offer_threshold_seconds":"-1"}), "offer_threshold_seconds"),
            (json!({"OCW":"61","offer_threshold_seconds":"100000"}), "offer_threshold_seconds"),
        ];
        for (params, named) in cases {
            let r = invoke(connect_event(params.clone(), "en-US")).await;
            assert_eq!(get(&r, "status"), Some("error"), "{params}");
            assert_eq!(get(&r, "error"), Some("invalid_parameter"), "{params}");
            assert_eq!(get(&r, "offer_callback"), Some("false"), "{params}");
            assert_eq!(get(&r, "OCW"), Some("61"), "{params}");
            assert_eq!(get(&r, "OCW_seconds"), None, "{params}");
            let msg = get(&r, "error_message").unwrap_or_default();
            assert!(msg.starts_with(named), "{msg}");
        }
        // An invalid OCW is reported before an invalid override.
        let r = invoke(connect_event(json!({"OCW":"x","cap_seconds":"x"}), "en-US")).await;
        assert_eq!(get(&r, "error"), Some("invalid_ocw"));
    }

    #[tokio::test]
    async fn reserved_keys_are_not_echoed() {
        let r = invoke(connect_event(
            json!({"OCW":"61","status":"spoofed","error":"x","error_message":"y","OCW_seconds":"1",
                   "offer_callback":"maybe","OCW_language":"de"}),
            "en-US",
        ))
        .await;
        assert_eq!(get(&r, "status"), Some("ok"));
        assert_eq!(get(&r, "error"), None);
        assert_eq!(get(&r, "error_message"), None);
        assert_eq!(get(&r, "OCW_seconds"), Some("61"));
        assert_eq!(get(&r, "offer_callback"), Some("true"));
        assert_eq!(get(&r, "OCW_language"), Some("en"));
    }

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[tokio::test]
    async fn configuration_applies() {
        assert_eq!(Config::from_env(&env_of(&[])), Ok(Config::default()));
        assert_eq!(
            Config::from_env(&env_of(&[("OCW_CAP_SECONDS", "600")])),
            Ok(Config::default())
        );
        let custom = Config::from_env(&env_of(&[
            ("OCW_CAP_SECONDS", " 1800 "),
            ("OCW_OFFER_THRESHOLD_SECONDS", "120"),
        ]));
        let want = Config {
            cap_seconds: 1800,
            offer_threshold_seconds: 120,
        };
        assert_eq!(custom, Ok(want));
        let r = invoke_with(&custom, connect_event(json!({"OCW":"1800"}), "en-US")).await;
        assert_eq!(get(&r, "OCW"), Some("about 30 minutes"));
        let r = invoke_with(&custom, connect_event(json!({"OCW":"1801"}), "en-US")).await;
        assert_eq!(get(&r, "OCW"), Some("more than 30 minutes"));
        let r = invoke_with(&custom, connect_event(json!({"OCW":"119"}), "en-US")).await;
        assert_eq!(get(&r, "offer_callback"), Some("false"));
        // A per-call override wins over the configuration.
        let r = invoke_with(
            &custom,
            connect_event(json!({"OCW":"119","offer_threshold_seconds":"60"}), "en-US"),
        )
        .await;
        assert_eq!(get(&r, "offer_callback"), Some("true"));
    }

    #[tokio::test]
    async fn invalid_configuration_answers_errors() {
        #[rustfmt::skip]
        let bad: [&'static [(&str, &str)]; 6] = [
            &[("OCW_CAP_SECONDS", "ten")],
            &[("OCW_CAP_SECONDS", "30")],
            &[("OCW_CAP_SECONDS", "600000")],
            &[("OCW_CAP_SECONDS", "600.0")],
            &[("OCW_OFFER_THRESHOLD_SECONDS", "-1")],
            &[("OCW_OFFER_THRESHOLD_SECONDS", "1.5")],
        ];
        for env in bad {
            let settings = Config::from_env(&env_of(env));
            assert!(settings.is_err(), "{env:?}");
            let r = invoke_with(&settings, connect_event(json!({"OCW":"125"}), "en-US")).await;
            assert_eq!(get(&r, "status"), Some("error"));
            assert_eq!(get(&r, "error"), Some("invalid_config"));
            assert_eq!(get(&r, "offer_callback"), Some("false"));
            assert_eq!(get(&r, "OCW"), Some("125"));
            let msg = get(&r, "error_message").unwrap_or_default();
            assert!(msg.contains(env[0].0), "{msg}");
        }
    }

    #[tokio::test]
    async fn every_value_is_a_string_and_the_map_is_flat() {
        let payload = connect_event(
            json!({"OCW": 125, "agents_available": 0, "flag": true, "nested": {"a": 1}}),
            "en-US",
        );
        let r = invoke(payload.clone()).await;
        assert_eq!(get(&r, "agents_available"), Some("0"));
        assert_eq!(get(&r, "flag"), Some("true"));
        assert_eq!(get(&r, "nested"), Some(r#"{"a":1}"#));
        assert_eq!(get(&r, "offer_callback"), Some("true"));
        // The serialised response is what Connect's STRING_MAP validation reads.
        let Ok(kvp) = OcwPhrase::served(config())
            .handle(test_event(payload))
            .await;
        let v = serde_json::to_value(&kvp).unwrap_or_default();
        let obj = v.as_object().cloned().unwrap_or_default();
        assert_eq!(obj.len(), r.len());
        assert!(obj.values().all(Value::is_string), "{v}");
    }

    #[tokio::test]
    async fn oversized_echo_becomes_a_clear_error() {
        let big = "x".repeat(40 * 1024);
        let r = invoke(connect_event(json!({"OCW": "61", "blob": big}), "en-US")).await;
        assert_eq!(get(&r, "status"), Some("error"));
        assert_eq!(get(&r, "error"), Some("response_too_large"));
    }
}

#[cfg(test)]
mod language_tests {
    use super::*;
    use serde_json::{json, Value};

    fn answer_for(params: Value, language_code: Option<&str>) -> Kvp {
        let mut data = json!({"Channel": "VOICE"});
        if let Some(code) = language_code {
            data["LanguageCode"] = json!(code);
        }
        let event: ContactFlowEvent =
            serde_json::from_value(json!({"Details": {"ContactData": data, "Parameters": params}}))
                .unwrap_or_default();
        answer(&Ok(Config::default()), &event)
    }

    fn get<'a>(kvp: &'a Kvp, key: &str) -> &'a str {
        kvp.get(key).unwrap_or("<absent>")
    }

    #[test]
    fn language_from_attribute_then_contact_then_stack_default() {
        #[rustfmt::skip]
        let cases: &[(Value, Option<&str>, &str, &str)] = &[
            // (parameters, LanguageCode, caller_language, voice)
            (json!({"OCW": "185"}), None, "en-US", "Joanna"),
            (json!({"OCW": "185"}), Some("es-US"), "es-US", "Lupe"),
            (json!({"OCW": "185"}), Some("fr-CA"), "fr-CA", "Chantal"),
            (json!({"OCW": "185", "language": "fr-CA"}), Some("es-US"), "fr-CA", "Chantal"),
            (json!({"OCW": "185", "language": ""}), Some("es-MX"), "es-US", "Lupe"),
            (json!({"OCW": "185", "language": "de-DE"}), Some("fr-FR"), "fr-CA", "Chantal"),
            (json!({"OCW": "185", "default_language": "es-US"}), None, "es-US", "Lupe"),
            (json!({"OCW": "185", "default_language": "es-US"}), Some("de-DE"), "es-US", "Lupe"),
            (json!({"OCW": "185", "default_language": "es-US"}), Some("fr-CA"), "fr-CA", "Chantal"),
            (json!({"OCW": "185", "default_language": "xx"}), Some("de-DE"), "en-US", "Joanna"),
            (json!({"OCW": "185", "voices": "es-US=Mia, fr-CA=Gabrielle"}), Some("es-US"), "es-US", "Mia"),
            (json!({"OCW": "185", "voices": "ES-us=Mia"}), Some("fr-CA"), "fr-CA", "Chantal"),
            (json!({"OCW": "185", "voices": "fr-CA=Léa"}), Some("fr-CA"), "fr-CA", "Léa"),
            (json!({"OCW": "185", "voices": ""}), Some("fr-CA"), "fr-CA", "Chantal"),
        ];
        for (params, code, tag, voice) in cases {
            let a = answer_for(params.clone(), *code);
            assert_eq!(get(&a, "status"), "ok", "{params} {code:?}");
            assert_eq!(get(&a, "caller_language"), *tag, "{params} {code:?}");
            assert_eq!(get(&a, "voice"), *voice, "{params} {code:?}");
            let lang = phrase::language_for(tag);
            assert_eq!(get(&a, "prompt_offer"), (lang.offer)(get(&a, "OCW")));
            assert_eq!(get(&a, "prompt_sorry"), lang.sorry);
            assert_eq!(get(&a, "prompt_callback_sorry"), lang.sorry_callback);
            assert_eq!(get(&a, "prompt_hold"), lang.hold);
            assert_eq!(get(&a, "prompt_accepted"), lang.accepted);
        }
    }

    #[test]
    fn words_come_with_every_error() {
        // The flow's error paths still speak the caller's language.
        for params in [
            json!({"OCW": "abc"}),
            json!({}),
            json!({"OCW": "185", "cap_seconds": "5"}),
            json!({"OCW": "185", "phrase": "sing"}),
        ] {
            let a = answer_for(params.clone(), Some("es-US"));
            assert_eq!(get(&a, "status"), "error", "{params}");
            assert_eq!(get(&a, "offer_callback"), "false", "{params}");
            assert_eq!(get(&a, "voice"), "Lupe", "{params}");
            assert_eq!(get(&a, "prompt_sorry"), phrase::SPANISH.sorry, "{params}");
            for key in keys::WORDS {
                assert!(a.get(key).is_some_and(|v| !v.is_empty()), "{params}: {key}");
            }
            assert!(a.get("prompt_offer").is_none(), "{params}");
        }
        let broken = answer(
            &Err(ConfigError::InvalidValue {
                name: "OCW_CAP_SECONDS".into(),
                reason: "x".into(),
            }),
            &serde_json::from_value(json!({"Details": {"ContactData": {"LanguageCode": "fr-CA"}, "Parameters": {"OCW": "185"}}}))
                .unwrap_or_default(),
        );
        assert_eq!(get(&broken, "error"), "invalid_config");
        assert_eq!(get(&broken, "prompt_sorry"), phrase::FRENCH.sorry);
    }

    #[test]
    fn invalid_voices_are_invalid_parameters_with_the_table_voice() {
        for voices in [
            "es-US",
            "xx-YY=Mia",
            "es-US=M1a",
            "es-US=",
            "es-US=Mia Two",
            "=Mia",
        ] {
            let a = answer_for(json!({"OCW": "185", "voices": voices}), Some("es-US"));
            assert_eq!(get(&a, "error"), "invalid_parameter", "{voices}");
            assert!(get(&a, "error_message").starts_with("voices "), "{voices}");
            assert_eq!(get(&a, "offer_callback"), "false", "{voices}");
            assert_eq!(get(&a, "voice"), "Lupe", "{voices}");
        }
    }

    #[test]
    fn accepted_says_the_estimated_callback_time() {
        #[rustfmt::skip]
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("en-US", Some("540"), "Thank you. We will call you back in about 9 minutes."),
            ("en-US", Some("539.5"), "Thank you. We will call you back in about 9 minutes."),
            ("en-US", Some("30"), "Thank you. We will call you back in less than one minute."),
            ("en-US", Some("5000"), "Thank you. We will call you back in more than 10 minutes."),
            ("es-US", Some("540"), "Gracias. Le devolveremos la llamada en aproximadamente 9 minutos."),
            ("fr-CA", Some("540"), "Merci. Nous vous rappellerons dans environ 9 minutes."),
            ("en-US", Some(""), "Thank you. We will call you back as soon as an agent is available."),
            ("en-US", Some("null"), "Thank you. We will call you back as soon as an agent is available."),
            ("es-US", None, "Gracias. Le devolveremos la llamada en cuanto un agente esté disponible."),
        ];
        for (tag, ecbt, want) in cases {
            let mut params = json!({"phrase": "accepted", "language": tag});
            if let Some(e) = ecbt {
                params["ecbt"] = json!(e);
            }
            let a = answer_for(params, None);
            assert_eq!(get(&a, "status"), "ok", "{tag} {ecbt:?}");
            assert_eq!(get(&a, "prompt_accepted"), *want, "{tag} {ecbt:?}");
            assert_eq!(get(&a, "offer_callback"), "false");
            assert!(a.get("OCW_seconds").is_none() && a.get("prompt_offer").is_none());
        }
        // The cap of the wait applies to the estimate too.
        let a = answer_for(
            json!({"phrase": "accepted", "ecbt": "1200", "cap_seconds": "1800"}),
            None,
        );
        assert_eq!(
            get(&a, "prompt_accepted"),
            "Thank you. We will call you back in about 20 minutes."
        );
        // A bad estimate: a clear error, and the sentence without a time for the flow to say.
        for bad in ["abc", "-5", "NaN"] {
            let a = answer_for(json!({"phrase": "accepted", "ecbt": bad}), None);
            assert_eq!(get(&a, "error"), "invalid_parameter", "{bad}");
            assert!(get(&a, "error_message").starts_with("ecbt "), "{bad}");
            assert_eq!(
                get(&a, "prompt_accepted"),
                phrase::ENGLISH.accepted,
                "{bad}"
            );
        }
        let a = answer_for(json!({"phrase": "Offer", "OCW": "185"}), None);
        assert_eq!(get(&a, "status"), "ok");
    }

    #[test]
    fn words_need_no_wait() {
        // The callback-return flow: only the voice and the sentences, no OCW.
        let a = answer_for(
            json!({"phrase": "words", "language": "fr-CA"}),
            Some("en-US"),
        );
        assert_eq!(get(&a, "status"), "ok");
        assert_eq!(get(&a, "voice"), "Chantal");
        assert_eq!(
            get(&a, "prompt_callback_sorry"),
            phrase::FRENCH.sorry_callback
        );
        assert_eq!(get(&a, "offer_callback"), "false");
        assert!(a.get("prompt_offer").is_none() && a.get("OCW_seconds").is_none());
    }
}

#[cfg(test)]
mod second_chance_tests {
    use super::*;
    use serde_json::{json, Value};

    fn answer_for(params: Value) -> Kvp {
        let event = ContactFlowEvent::from_value(json!({"Details": {"Parameters": params}}));
        answer(&Ok(Config::default()), &event)
    }

    #[test]
    fn offers_are_counted_and_capped() {
        // (offers_made, max_offers, OCW) → (offer_callback, offers_made out)
        let cases = [
            (None, None, "300", "true", None),
            (Some("0"), Some("2"), "300", "true", Some("1")),
            (Some("1"), Some("2"), "300", "true", Some("2")),
            (Some("2"), Some("2"), "300", "false", Some("2")),
            (Some("5"), Some("2"), "300", "false", Some("5")),
            (Some(""), Some("1"), "300", "true", Some("1")),
            (None, Some("0"), "300", "false", Some("0")),
            (Some("1"), None, "300", "true", Some("2")),
            (Some("1"), Some("3"), "30", "false", Some("1")),
        ];
        for (made, max, ocw, want_offer, want_made) in cases {
            let mut params = serde_json::Map::new();
            params.insert("OCW".into(), json!(ocw));
            if let Some(m) = made {
                params.insert("offers_made".into(), json!(m));
            }
            if let Some(m) = max {
                params.insert("max_offers".into(), json!(m));
            }
            let r = answer_for(Value::Object(params));
            assert_eq!(r.status(), Some("ok"), "{made:?} {max:?}");
            assert_eq!(
                r.get("offer_callback"),
                Some(want_offer),
                "{made:?} {max:?} {ocw}"
            );
            assert_eq!(r.get("offers_made"), want_made, "{made:?} {max:?} {ocw}");
        }
    }

    #[test]
    fn invalid_counts_are_invalid_parameters() {
        for (name, value) in [
            ("offers_made", "-1"),
            ("offers_made", "abc"),
            ("max_offers", "1.5"),
            ("max_offers", "5000"),
        ] {
            let r = answer_for(json!({"OCW": "300", name: value}));
            assert_eq!(r.get("error"), Some("invalid_parameter"), "{name}={value}");
            assert!(r.get("error_message").unwrap_or("").starts_with(name));
            assert_eq!(r.get("offer_callback"), Some("false"));
        }
    }
}
