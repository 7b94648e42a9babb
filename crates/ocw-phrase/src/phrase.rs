//! The pure phrase engine: seconds in, a spoken wait-time phrase out. No I/O, no configuration
//! reading, no allocation beyond the phrase itself, so every boundary is table-tested.
//!
//! The rules (the README's ocw-phrase section), for a cap `C` in seconds (at least 60):
//! - `s < 60` (0 included): "less than one minute";
//! - `60 <= s <= C`: "about N minutes" with `N = ceil(s / 60)`, singular at 1, never 0;
//! - `s > C`: "more than M minutes" with `M = floor(C / 60)`, the cap in whole minutes (a true
//!   statement even for a cap that is not a whole number of minutes).
//!
//! Durations of 60 minutes or more are said in hours and minutes in both phrases
//! ("more than 1 hour and 30 minutes", "about 2 hours").

use std::fmt;

/// Below this many seconds the phrase is "less than one minute".
pub const ONE_MINUTE: u64 = 60;

/// What the caller will be told, before it is put into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Under 60 seconds.
    UnderAMinute,
    /// From 60 s up to and including the cap: `ceil(s/60)` minutes (at least 1).
    About(Span),
    /// Above the cap: the cap in whole minutes (at least 1).
    MoreThan(Span),
}

/// A duration in whole hours and minutes (`minutes < 60`), never zero in a phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub hours: u64,
    pub minutes: u64,
}

impl Span {
    pub fn from_minutes(total: u64) -> Self {
        Self {
            hours: total / 60,
            minutes: total % 60,
        }
    }
}

/// Classifies `seconds` against `cap_seconds`. A cap below 60 s is treated as 60 s (the handler
/// never passes one; this keeps the function total and "more than 0 minutes" impossible).
pub fn classify(seconds: u64, cap_seconds: u64) -> Wait {
    let cap = cap_seconds.max(ONE_MINUTE);
    if seconds < ONE_MINUTE {
        Wait::UnderAMinute
    } else if seconds <= cap {
        Wait::About(Span::from_minutes(seconds.div_ceil(60)))
    } else {
        Wait::MoreThan(Span::from_minutes(cap / 60))
    }
}

/// One language: its wait phrases and every sentence the caller hears on the callback path.
/// Adding a language is adding one of these to [`LANGUAGES`]: the flows play what
/// ocw-phrase answers (`prompt_*`, `voice`), so nothing else changes.
pub struct Language {
    /// The table's tag (`en-US`, `es-US`, `fr-CA`): answered as `caller_language`, the key of a
    /// voice override, and matched first (exactly) against the caller's language.
    pub tag: &'static str,
    /// Primary language subtag, the fallback match (`es-MX` → `es`) and `OCW_language`.
    pub code: &'static str,
    /// The Amazon Polly voice the flows' Set voice block uses (standard engine), unless the
    /// stack overrides it (`PollyVoices` → the `voices` parameter).
    pub voice: &'static str,
    /// Below one minute.
    pub under_a_minute: &'static str,
    /// From one minute up to the cap.
    pub about: fn(Span) -> String,
    /// Above the cap.
    pub more_than: fn(Span) -> String,
    /// The offer, around the wait phrase ("The current hold time is about 4 minutes. …").
    pub offer: fn(&str) -> String,
    /// After the caller accepts, when Mindful gave no estimated callback time.
    pub accepted: &'static str,
    /// After the caller accepts, around the estimated callback time said as a wait phrase.
    pub accepted_in: fn(&str) -> String,
    /// The hold message of the second-chance queue flow.
    pub hold: &'static str,
    /// Before the flow hangs up because the caller cannot be queued.
    pub sorry: &'static str,
    /// Before the callback-return flow hangs up because the returning customer cannot be queued.
    pub sorry_callback: &'static str,
}

impl fmt::Debug for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Language")
            .field("tag", &self.tag)
            .field("code", &self.code)
            .finish()
    }
}

impl Language {
    /// The phrase for a classified wait.
    pub fn say(&self, wait: Wait) -> String {
        match wait {
            Wait::UnderAMinute => self.under_a_minute.to_string(),
            Wait::About(span) => (self.about)(span),
            Wait::MoreThan(span) => (self.more_than)(span),
        }
    }

    /// The phrase for `seconds` under `cap_seconds`.
    pub fn phrase(&self, seconds: u64, cap_seconds: u64) -> String {
        self.say(classify(seconds, cap_seconds))
    }
}

/// `"{n} {singular|plural}"`, or `one` (e.g. "una hora") when `n == 1` and `one` is given.
fn count(n: u64, singular: &str, plural: &str, one: Option<&str>) -> String {
    match (n, one) {
        (1, Some(one)) => one.to_string(),
        (1, None) => format!("1 {singular}"),
        _ => format!("{n} {plural}"),
    }
}

/// Joins the hour and minute parts with `and`, leaving out a zero part.
fn join(hours: Option<String>, minutes: Option<String>, and: &str) -> String {
    match (hours, minutes) {
        (Some(h), Some(m)) => format!("{h} {and} {m}"),
        (Some(h), None) => h,
        (None, Some(m)) => m,
        (None, None) => String::new(),
    }
}

/// Hours and minutes in words. `one_hour` / `one_minute` replace "1 hour" / "1 minute" when
/// given (used where the language says "una hora" rather than "1 hora").
fn span_words(
    span: Span,
    hour: (&str, &str),
    minute: (&str, &str),
    and: &str,
    one_hour: Option<&str>,
    one_minute: Option<&str>,
) -> String {
    let hours = (span.hours > 0).then(|| count(span.hours, hour.0, hour.1, one_hour));
    let minutes = (span.minutes > 0).then(|| count(span.minutes, minute.0, minute.1, one_minute));
    join(hours, minutes, and)
}

// ---- English ------------------------------------------------------------------------------

fn en_span(span: Span) -> String {
    span_words(
        span,
        ("hour", "hours"),
        ("minute", "minutes"),
        "and",
        None,
        None,
    )
}

pub static ENGLISH: Language = Language {
    tag: "en-US",
    code: "en",
    voice: "Joanna",
    under_a_minute: "less than one minute",
    about: |s| format!("about {}", en_span(s)),
    more_than: |s| format!("more than {}", en_span(s)),
    offer: |w| {
        format!(
            "The current hold time is {w}. To receive a callback, press 1, or stay on the line."
        )
    },
    accepted: "Thank you. We will call you back as soon as an agent is available.",
    accepted_in: |w| format!("Thank you. We will call you back in {w}."),
    hold: "Thank you for holding. The next available agent will be with you shortly.",
    sorry: "We are sorry, we cannot take your call right now. Please call again later. Goodbye.",
    sorry_callback: "We are sorry, we cannot connect your callback right now. Goodbye.",
};

// ---- Spanish ------------------------------------------------------------------------------

fn es_span(span: Span, article_for_one: bool) -> String {
    // "más de una hora" / "más de un minuto" alone; digits in a compound
    // ("más de 1 hora y 30 minutos") and after "aproximadamente".
    let alone = article_for_one && (span.hours == 0 || span.minutes == 0);
    span_words(
        span,
        ("hora", "horas"),
        ("minuto", "minutos"),
        "y",
        alone.then_some("una hora"),
        alone.then_some("un minuto"),
    )
}

pub static SPANISH: Language = Language {
    tag: "es-US",
    code: "es",
    voice: "Lupe",
    under_a_minute: "menos de un minuto",
    about: |s| format!("aproximadamente {}", es_span(s, false)),
    more_than: |s| format!("más de {}", es_span(s, true)),
    offer: |w| {
        format!("El tiempo de espera actual es de {w}. Para recibir una llamada de vuelta, oprima 1, o permanezca en la línea.")
    },
    accepted: "Gracias. Le devolveremos la llamada en cuanto un agente esté disponible.",
    accepted_in: |w| format!("Gracias. Le devolveremos la llamada en {w}."),
    hold: "Gracias por esperar. El próximo agente disponible le atenderá en breve.",
    sorry: "Lo sentimos, no podemos atender su llamada en este momento. Por favor, llame más tarde. Adiós.",
    sorry_callback: "Lo sentimos, no podemos conectar su llamada de vuelta en este momento. Adiós.",
};

// ---- French -------------------------------------------------------------------------------

fn fr_span(span: Span, article_for_one: bool) -> String {
    let one = |w: &'static str| article_for_one.then_some(w);
    span_words(
        span,
        ("heure", "heures"),
        ("minute", "minutes"),
        "et",
        one("une heure"),
        // "plus d'une heure et 1 minute": the article only where it leads the phrase.
        if span.hours == 0 {
            one("une minute")
        } else {
            None
        },
    )
}

/// "plus de une …" elides to "plus d'une …".
fn fr_more_than(span: Span) -> String {
    let words = fr_span(span, true);
    match words.strip_prefix("une ") {
        Some(rest) => format!("plus d'une {rest}"),
        None => format!("plus de {words}"),
    }
}

/// "de" before a phrase, elided before a vowel ("d'environ 4 minutes", "de moins d'une minute").
fn fr_de(phrase: &str) -> String {
    match phrase.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'é') => format!("d'{phrase}"),
        _ => format!("de {phrase}"),
    }
}

pub static FRENCH: Language = Language {
    tag: "fr-CA",
    code: "fr",
    voice: "Chantal",
    under_a_minute: "moins d'une minute",
    about: |s| format!("environ {}", fr_span(s, false)),
    more_than: fr_more_than,
    offer: |w| {
        format!(
            "Le temps d'attente actuel est {}. Pour recevoir un rappel, appuyez sur 1, ou restez en ligne.",
            fr_de(w)
        )
    },
    accepted: "Merci. Nous vous rappellerons dès qu'un agent sera disponible.",
    accepted_in: |w| format!("Merci. Nous vous rappellerons dans {w}."),
    hold: "Merci de patienter. Le prochain agent disponible vous répondra sous peu.",
    sorry: "Nous sommes désolés, nous ne pouvons pas prendre votre appel pour le moment. Veuillez rappeler plus tard. Au revoir.",
    sorry_callback: "Nous sommes désolés, nous ne pouvons pas vous mettre en relation pour votre rappel pour le moment. Au revoir.",
};

/// Every shipped language. The first is the fallback.
pub static LANGUAGES: [&Language; 3] = [&ENGLISH, &SPANISH, &FRENCH];

/// The table entry for a BCP 47-ish tag (`es-MX`, `fr_CA`, `EN`), case-insensitively: the
/// entry with exactly that tag, else the first entry with its primary subtag; `None` when the
/// table has no such language (or the tag is blank).
pub fn find_language(tag: &str) -> Option<&'static Language> {
    let tag = tag.trim().replace('_', "-").to_ascii_lowercase();
    let primary = tag.split('-').next().unwrap_or_default();
    if primary.is_empty() {
        return None;
    }
    let table = LANGUAGES.iter().copied();
    table
        .clone()
        .find(|l| l.tag.eq_ignore_ascii_case(&tag))
        .or_else(|| table.clone().find(|l| l.code == primary))
}

/// The language for a tag; anything unknown or blank falls back to English.
pub fn language_for(tag: &str) -> &'static Language {
    find_language(tag).unwrap_or(&ENGLISH)
}

/// Why a seconds value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidSeconds {
    Missing,
    NotANumber,
    Negative,
    NotFinite,
}

impl fmt::Display for InvalidSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "is missing or empty",
            Self::NotANumber => "is not a number",
            Self::Negative => "is negative",
            Self::NotFinite => "is not a finite number",
        })
    }
}

/// Parses a seconds value as Connect sends it (`"125"`, `"24.0"`, `"65.3"`) into whole seconds.
///
/// Decimals are truncated (floored): the whole seconds that have elapsed, the way an age is
/// counted, so 59.9 s is still "less than one minute" and 600.5 s is still within a 600 s cap.
/// Missing/blank, non-numeric, negative, NaN and infinite values are rejected. Values beyond
/// `u64` saturate (they are far above any cap).
pub fn parse_seconds(raw: Option<&str>) -> Result<u64, InvalidSeconds> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(InvalidSeconds::Missing);
    }
    if let Ok(whole) = raw.parse::<u64>() {
        return Ok(whole);
    }
    let value: f64 = raw.parse().map_err(|_| InvalidSeconds::NotANumber)?;
    if value.is_nan() || value.is_infinite() {
        return Err(InvalidSeconds::NotFinite);
    }
    if value < 0.0 {
        return Err(InvalidSeconds::Negative);
    }
    // `as` saturates at u64::MAX for huge finite values; -0.0 becomes 0.
    Ok(value.floor() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: u64 = 600;

    /// (seconds, cap, English, Spanish, French)
    #[rustfmt::skip]
    const TABLE: &[(u64, u64, &str, &str, &str)] = &[
        (0, CAP, "less than one minute", "menos de un minuto", "moins d'une minute"),
        (1, CAP, "less than one minute", "menos de un minuto", "moins d'une minute"),
        (45, CAP, "less than one minute", "menos de un minuto", "moins d'une minute"),
        (59, CAP, "less than one minute", "menos de un minuto", "moins d'une minute"),
        (60, CAP, "about 1 minute", "aproximadamente 1 minuto", "environ 1 minute"),
        (61, CAP, "about 2 minutes", "aproximadamente 2 minutos", "environ 2 minutes"),
        (119, CAP, "about 2 minutes", "aproximadamente 2 minutos", "environ 2 minutes"),
        (120, CAP, "about 2 minutes", "aproximadamente 2 minutos", "environ 2 minutes"),
        (121, CAP, "about 3 minutes", "aproximadamente 3 minutos", "environ 3 minutes"),
        (599, CAP, "about 10 minutes", "aproximadamente 10 minutos", "environ 10 minutes"),
        (600, CAP, "about 10 minutes", "aproximadamente 10 minutos", "environ 10 minutes"),
        (601, CAP, "more than 10 minutes", "más de 10 minutos", "plus de 10 minutes"),
        (3599, CAP, "more than 10 minutes", "más de 10 minutos", "plus de 10 minutes"),
        (3600, CAP, "more than 10 minutes", "más de 10 minutos", "plus de 10 minutes"),
        (3601, CAP, "more than 10 minutes", "más de 10 minutos", "plus de 10 minutes"),
        (86_400, CAP, "more than 10 minutes", "más de 10 minutos", "plus de 10 minutes"),
        (u64::MAX, CAP, "more than 10 minutes", "más de 10 minutos", "plus de 10 minutes"),
        // The smallest cap: one minute.
        (60, 60, "about 1 minute", "aproximadamente 1 minuto", "environ 1 minute"),
        (61, 60, "more than 1 minute", "más de un minuto", "plus d'une minute"),
        // A cap that is not a whole number of minutes: the floor is said, which stays true.
        (90, 90, "about 2 minutes", "aproximadamente 2 minutos", "environ 2 minutes"),
        (91, 90, "more than 1 minute", "más de un minuto", "plus d'une minute"),
        (300, 299, "more than 4 minutes", "más de 4 minutos", "plus de 4 minutes"),
        // Caps of an hour and more, said in hours and minutes.
        (3599, 3600, "about 1 hour", "aproximadamente 1 hora", "environ 1 heure"),
        (3600, 3600, "about 1 hour", "aproximadamente 1 hora", "environ 1 heure"),
        (3601, 3600, "more than 1 hour", "más de una hora", "plus d'une heure"),
        (3601, 7200, "about 1 hour and 1 minute", "aproximadamente 1 hora y 1 minuto", "environ 1 heure et 1 minute"),
        (5400, 7200, "about 1 hour and 30 minutes", "aproximadamente 1 hora y 30 minutos", "environ 1 heure et 30 minutes"),
        (5401, 5400, "more than 1 hour and 30 minutes", "más de 1 hora y 30 minutos", "plus d'une heure et 30 minutes"),
        (3661, 3660, "more than 1 hour and 1 minute", "más de 1 hora y 1 minuto", "plus d'une heure et 1 minute"),
        (7200, 7200, "about 2 hours", "aproximadamente 2 horas", "environ 2 heures"),
        (7201, 7200, "more than 2 hours", "más de 2 horas", "plus de 2 heures"),
        (9000, 8100, "more than 2 hours and 15 minutes", "más de 2 horas y 15 minutos", "plus de 2 heures et 15 minutes"),
        (9000, 7260, "more than 2 hours and 1 minute", "más de 2 horas y 1 minuto", "plus de 2 heures et 1 minute"),
        (86_401, 86_400, "more than 24 hours", "más de 24 horas", "plus de 24 heures"),
        // A cap below a minute is treated as one minute ("more than 0 minutes" is impossible).
        (59, 0, "less than one minute", "menos de un minuto", "moins d'une minute"),
        (60, 0, "about 1 minute", "aproximadamente 1 minuto", "environ 1 minute"),
        (61, 30, "more than 1 minute", "más de un minuto", "plus d'une minute"),
    ];

    #[test]
    fn phrase_table_every_language() {
        for &(seconds, cap, en, es, fr) in TABLE {
            assert_eq!(ENGLISH.phrase(seconds, cap), en, "en {seconds}s cap {cap}");
            assert_eq!(SPANISH.phrase(seconds, cap), es, "es {seconds}s cap {cap}");
            assert_eq!(FRENCH.phrase(seconds, cap), fr, "fr {seconds}s cap {cap}");
        }
    }

    #[test]
    fn classify_boundaries() {
        let m = Span::from_minutes;
        assert_eq!(classify(0, CAP), Wait::UnderAMinute);
        assert_eq!(classify(59, CAP), Wait::UnderAMinute);
        assert_eq!(classify(60, CAP), Wait::About(m(1)));
        assert_eq!(classify(61, CAP), Wait::About(m(2)));
        assert_eq!(classify(600, CAP), Wait::About(m(10)));
        assert_eq!(classify(601, CAP), Wait::MoreThan(m(10)));
        assert_eq!(
            m(90),
            Span {
                hours: 1,
                minutes: 30
            }
        );
    }

    /// Mistakes found in public implementations of this function; each must stay fixed.
    #[test]
    fn regressions_from_public_peers() {
        // 45 seconds said as "45 minutes" (seconds and minutes confused).
        assert_eq!(ENGLISH.phrase(45, CAP), "less than one minute");
        // "1 minutes" (no singular).
        assert_eq!(ENGLISH.phrase(60, CAP), "about 1 minute");
        assert_eq!(ENGLISH.phrase(61, 60), "more than 1 minute");
        // 3600 s said as "less than a minute" (milliseconds assumed, or an overflow).
        assert_eq!(ENGLISH.phrase(3600, CAP), "more than 10 minutes");
        // A cap that only fires at exactly the cap (`==` instead of `>`), or already fires at it.
        assert_eq!(ENGLISH.phrase(600, CAP), "about 10 minutes");
        assert_eq!(ENGLISH.phrase(601, CAP), "more than 10 minutes");
        assert_eq!(ENGLISH.phrase(900, CAP), "more than 10 minutes");
        // "0 minutes" (rounding down), and 61 s said as "1 minute" (floor instead of ceil).
        assert_eq!(ENGLISH.phrase(61, CAP), "about 2 minutes");
        for s in 0..=4000 {
            for lang in LANGUAGES {
                let p = lang.phrase(s, CAP);
                assert!(!p.split(' ').any(|w| w == "0"), "{p}");
                assert!(
                    !p.contains(" 1 minutes") && !p.contains(" 1 minutos"),
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn every_phrase_is_grammatical_for_every_minute_count() {
        // Never a zero; singular exactly after 1, plural after any other number.
        for minutes in 1..=(24 * 60) {
            let span = Span::from_minutes(minutes);
            for lang in LANGUAGES {
                for p in [(lang.about)(span), (lang.more_than)(span)] {
                    // Safe to place inside an SSML prompt without escaping.
                    assert!(!p.contains(['&', '<', '>', '"']), "{p}");
                    let words: Vec<&str> = p.split(' ').collect();
                    assert!(!words.contains(&"0"), "{p}");
                    for pair in words.windows(2) {
                        if pair[0] == "1" {
                            assert!(!pair[1].ends_with('s'), "plural after 1 in {p:?}");
                        } else if pair[0].parse::<u64>().is_ok() {
                            assert!(pair[1].ends_with('s'), "singular in {p:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn language_selection() {
        #[rustfmt::skip]
        let cases = [
            ("en-US", "en"), ("en-GB", "en"), ("EN", "en"),
            ("es-MX", "es"), ("es-US", "es"), ("es_ES", "es"), ("ES-mx", "es"), ("es", "es"),
            ("fr-CA", "fr"), ("fr-FR", "fr"), (" fr ", "fr"),
            ("de-DE", "en"), ("pt-BR", "en"), ("", "en"), ("-", "en"), ("english", "en"),
            ("spanish", "en"), ("e", "en"),
        ];
        for (tag, code) in cases {
            assert_eq!(language_for(tag).code, code, "{tag:?}");
        }
    }

    /// Every sentence of every language, around the wait of 185 s (cap 600).
    #[test]
    fn sentences_every_language() {
        #[rustfmt::skip]
        let cases: [(&Language, &str, &str); 3] = [
            (&ENGLISH,
             "The current hold time is about 4 minutes. To receive a callback, press 1, or stay on the line.",
             "Thank you. We will call you back in about 4 minutes."),
            (&SPANISH,
             "El tiempo de espera actual es de aproximadamente 4 minutos. Para recibir una llamada de vuelta, oprima 1, o permanezca en la línea.",
             "Gracias. Le devolveremos la llamada en aproximadamente 4 minutos."),
            (&FRENCH,
             "Le temps d'attente actuel est d'environ 4 minutes. Pour recevoir un rappel, appuyez sur 1, ou restez en ligne.",
             "Merci. Nous vous rappellerons dans environ 4 minutes."),
        ];
        for (lang, offer, accepted_in) in cases {
            let wait = lang.phrase(185, CAP);
            assert_eq!((lang.offer)(&wait), offer);
            assert_eq!((lang.accepted_in)(&wait), accepted_in);
        }
        // French elides "de" before a vowel only.
        assert!((FRENCH.offer)(&FRENCH.phrase(30, CAP)).contains("est de moins d'une minute."));
        assert!((FRENCH.offer)(&FRENCH.phrase(900, CAP)).contains("est de plus de 10 minutes."));
        assert!((SPANISH.offer)(&SPANISH.phrase(900, CAP)).contains("es de más de 10 minutos."));
    }

    /// What every entry of the table must hold, so that adding one is all a new language takes:
    /// a distinct tag whose primary subtag is `code`, a Polly voice name, and sentences that can
    /// be placed in a prompt (text or SSML) as they are.
    #[test]
    fn every_table_entry_is_complete() {
        let mut tags = std::collections::BTreeSet::new();
        for lang in LANGUAGES {
            assert!(
                tags.insert(lang.tag.to_ascii_lowercase()),
                "{} twice",
                lang.tag
            );
            assert_eq!(lang.tag.split('-').next(), Some(lang.code), "{}", lang.tag);
            assert!(
                std::ptr::eq(language_for(lang.tag), lang),
                "{} finds itself",
                lang.tag
            );
            assert!(
                (2..=20).contains(&lang.voice.chars().count())
                    && lang.voice.chars().all(char::is_alphabetic),
                "{}: voice {:?}",
                lang.tag,
                lang.voice
            );
            for seconds in [0, 185, 5000] {
                let wait = lang.phrase(seconds, CAP);
                for sentence in [
                    (lang.offer)(&wait),
                    (lang.accepted_in)(&wait),
                    lang.accepted.to_string(),
                    lang.hold.to_string(),
                    lang.sorry.to_string(),
                    lang.sorry_callback.to_string(),
                ] {
                    assert!(
                        !sentence.is_empty() && !sentence.contains(['&', '<', '>', '"', '$']),
                        "{sentence}"
                    );
                }
                assert!((lang.offer)(&wait).contains(&wait), "{}", lang.tag);
                assert!(
                    (lang.offer)(&wait).contains('1'),
                    "{}: the offer names the key",
                    lang.tag
                );
            }
        }
    }

    #[test]
    fn find_language_prefers_the_exact_tag() {
        assert_eq!(find_language("es-MX").map(|l| l.tag), Some("es-US"));
        assert_eq!(find_language("FR_ca").map(|l| l.tag), Some("fr-CA"));
        assert_eq!(find_language("fr-FR").map(|l| l.tag), Some("fr-CA"));
        assert_eq!(find_language("de-DE").map(|l| l.tag), None);
        assert_eq!(find_language(" ").map(|l| l.tag), None);
        assert_eq!(find_language("-US").map(|l| l.tag), None);
    }

    #[test]
    fn parse_seconds_table() {
        use InvalidSeconds::*;
        #[rustfmt::skip]
        let cases: &[(Option<&str>, Result<u64, InvalidSeconds>)] = &[
            (Some("0"), Ok(0)), (Some("125"), Ok(125)), (Some(" 125 "), Ok(125)),
            (Some("+60"), Ok(60)), (Some("24.0"), Ok(24)), (Some("24.613"), Ok(24)),
            (Some("65.3"), Ok(65)), (Some("59.9"), Ok(59)), (Some("600.5"), Ok(600)),
            (Some("60."), Ok(60)), (Some(".5"), Ok(0)), (Some("1e3"), Ok(1000)), (Some("-0"), Ok(0)),
            (Some("18446744073709551615"), Ok(u64::MAX)), (Some("1e300"), Ok(u64::MAX)),
            (None, Err(Missing)), (Some(""), Err(Missing)), (Some("   "), Err(Missing)),
            (Some("abc"), Err(NotANumber)), (Some("12abc"), Err(NotANumber)),
            (Some("1,5"), Err(NotANumber)), (Some("0x10"), Err(NotANumber)),
            (Some("true"), Err(NotANumber)), (Some("null"), Err(NotANumber)),
            (Some("-5"), Err(Negative)), (Some("-0.5"), Err(Negative)),
            (Some("NaN"), Err(NotFinite)), (Some("nan"), Err(NotFinite)), (Some("inf"), Err(NotFinite)),
            (Some("-inf"), Err(NotFinite)), (Some("Infinity"), Err(NotFinite)),
            (Some("1e400"), Err(NotFinite)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_seconds(*raw), *want, "{raw:?}");
        }
    }
}
