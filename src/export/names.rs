//! Manifest names for exported objects: DNS labels made from what people
//! recognise (reseller display names, domain prefixes, friendly names), with
//! collisions numbered `-2`, `-3`, ... in the order of the objects' ids, so the same
//! tenant always gets the same names. Pure text functions.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::live::{LiveCustomer, LiveReseller};

use super::MAX_NAME;

/// A DNS-label fragment of `text`: lowercase ASCII letters and digits, other runs
/// turned into one `-`, common Latin accents folded (`Müller & Söhne` → `muller-sohne`).
/// Empty when nothing is left.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded: Cow<'static, str> = match fold_accent(c) {
            Some(ascii) => Cow::Borrowed(ascii),
            None => Cow::Owned(c.to_string()),
        };
        for ch in folded.chars() {
            if ch.is_ascii_alphanumeric() {
                if pending_dash && !out.is_empty() {
                    out.push('-');
                }
                pending_dash = false;
                out.push(ch);
            } else {
                pending_dash = true;
            }
        }
    }
    out
}

fn fold_accent(c: char) -> Option<&'static str> {
    Some(match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' | 'ð' => "d",
        'è'..='ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ì'..='ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' | 'ĺ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò'..='ö' | 'ø' | 'ō' | 'ő' => "o",
        'œ' => "oe",
        'ř' | 'ŕ' => "r",
        'ś' | 'š' | 'ş' | 'ș' => "s",
        'ß' => "ss",
        'ť' | 'ţ' | 'ț' => "t",
        'þ' => "th",
        'ù'..='ü' | 'ū' | 'ů' | 'ű' | 'ų' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

/// The first `max` characters of a slug, without a trailing `-`.
pub(super) fn truncate_name(name: &str, max: usize) -> String {
    let cut: String = name.chars().take(max).collect();
    cut.trim_end_matches('-').to_owned()
}

/// Unique names for `items` (base name, tie-break key), in the same order. Each base
/// goes to the item with the smallest key among those sharing it; the others get
/// `-2`, `-3`, ... (cut to fit [`MAX_NAME`]), skipping every base name in use, so an
/// object whose own name is `x-2` keeps it.
pub(super) fn assign_names(items: &[(String, String)]) -> Vec<String> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[a].cmp(&items[b]));
    let mut names: Vec<Option<String>> = vec![None; items.len()];
    let mut taken: HashSet<String> = HashSet::with_capacity(items.len());
    for &i in &order {
        if taken.insert(items[i].0.clone()) {
            names[i] = Some(items[i].0.clone());
        }
    }
    for &i in &order {
        if names[i].is_some() {
            continue;
        }
        let base = &items[i].0;
        let name = (2..)
            .map(|n: usize| {
                let suffix = format!("-{n}");
                format!(
                    "{}{suffix}",
                    truncate_name(base, MAX_NAME.saturating_sub(suffix.len()))
                )
            })
            .find(|candidate| !taken.contains(candidate))
            .expect("an unused suffix exists");
        taken.insert(name.clone());
        names[i] = Some(name);
    }
    names
        .into_iter()
        .map(|n| n.expect("every item named"))
        .collect()
}

pub(super) fn reseller_base(reseller: &LiveReseller) -> String {
    match truncate_name(&slug(&reseller.name), MAX_NAME) {
        name if name.is_empty() => {
            truncate_name(&format!("reseller-{}", slug(&reseller.mpn_id)), MAX_NAME)
        }
        name => name,
    }
}

pub(super) fn customer_base(customer: &LiveCustomer) -> String {
    let prefix = customer.domain.split('.').next().unwrap_or_default();
    match truncate_name(&slug(prefix), MAX_NAME) {
        name if name.is_empty() => "customer".to_owned(),
        name => name,
    }
}

pub(super) fn subscription_base(customer_name: &str, friendly_name: &str) -> String {
    let slugged = slug(friendly_name);
    // `Contoso E3` of customer `contoso` → `contoso-e3`, not `contoso-contoso-e3`.
    // `Contoso M365` of customer `contoso-demo` → `contoso-demo-m365`.
    let first_word = customer_name.split('-').next().unwrap_or(customer_name);
    let own = [customer_name, first_word]
        .iter()
        .find_map(|prefix| match slugged.strip_prefix(prefix) {
            Some("") => Some(""),
            Some(rest) => rest.strip_prefix('-'),
            None => None,
        })
        .unwrap_or(&slugged);
    let own = if own.is_empty() { "subscription" } else { own };
    truncate_name(&format!("{customer_name}-{own}"), MAX_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_label_fragments() {
        assert_eq!(slug("Northwind Traders, Inc."), "northwind-traders-inc");
        assert_eq!(slug("Müller & Söhne GmbH"), "muller-sohne-gmbh");
        assert_eq!(slug("  --Hello__World--  "), "hello-world");
        assert_eq!(slug("ÆRØ Straße"), "aero-strasse");
        assert_eq!(slug("日本 🚀"), "");
        assert_eq!(slug(""), "");
    }

    #[test]
    fn collisions_get_numbered_in_id_order_and_keep_natural_names() {
        let items = vec![
            ("a".to_owned(), "2".to_owned()),
            ("a".to_owned(), "1".to_owned()),
            ("a-2".to_owned(), "3".to_owned()),
            ("a".to_owned(), "0".to_owned()),
        ];
        // "a" goes to the smallest key; "a-2" is someone's own name, so it is skipped.
        assert_eq!(assign_names(&items), ["a-4", "a-3", "a-2", "a"]);
        let long = "x".repeat(MAX_NAME);
        let names = assign_names(&[(long.clone(), "1".into()), (long.clone(), "2".into())]);
        assert_eq!(names[0], long);
        assert_eq!(names[1], format!("{}-2", "x".repeat(MAX_NAME - 2)));
        let pattern = regex_free_name_check;
        for name in names {
            assert!(pattern(&name), "{name}");
        }
    }

    /// `NAME_PATTERN` without a regex engine: `^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`.
    fn regex_free_name_check(name: &str) -> bool {
        let b = name.as_bytes();
        let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        !b.is_empty()
            && b.len() <= MAX_NAME
            && edge(&b[0])
            && edge(&b[b.len() - 1])
            && b.iter().all(|c| edge(c) || *c == b'-')
    }

    #[test]
    fn subscription_names_start_with_the_customer_without_stutter() {
        assert_eq!(subscription_base("contoso", "Contoso E3"), "contoso-e3");
        assert_eq!(
            subscription_base("contoso-demo", "Contoso M365"),
            "contoso-demo-m365"
        );
        assert_eq!(
            subscription_base("contoso", "Office 365"),
            "contoso-office-365"
        );
        assert_eq!(
            subscription_base("contoso", "Contoso"),
            "contoso-subscription"
        );
        assert_eq!(subscription_base("contoso", "🚀"), "contoso-subscription");
        let long = subscription_base("contoso", &"word ".repeat(40));
        assert!(long.len() <= MAX_NAME && !long.ends_with('-'), "{long}");
    }
}
