//! Namespace rules (docs/security.md §2.5): one matcher for admission, runtime, simulate and validate.
//! Allow-lists intersect (an empty one does not constrain), deny-lists union, deny always wins.

pub fn matches(pattern: &str, ns: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return ns.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return ns.ends_with(suffix);
    }
    pattern == ns
}

/// Why a namespace is or is not permitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Permitted,
    /// not matched by the allow-list of this level
    NotAllowed {
        level: &'static str,
    },
    /// matched by a deny pattern of this level
    Denied {
        level: &'static str,
        pattern: String,
    },
}

/// `levels`: (level name, allow-list, deny-list), e.g. Katalog then CRD.
pub fn decide(ns: &str, levels: &[(&'static str, &[String], &[String])]) -> Decision {
    for (level, _, deny) in levels {
        if let Some(p) = deny.iter().find(|p| matches(p, ns)) {
            return Decision::Denied {
                level,
                pattern: p.clone(),
            };
        }
    }
    for (level, allow, _) in levels {
        if !allow.is_empty() && !allow.iter().any(|p| matches(p, ns)) {
            return Decision::NotAllowed { level };
        }
    }
    Decision::Permitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_intersect_and_deny_wins() {
        let kat_allow = vec!["team-*".to_string()];
        let crd_allow = vec!["team-a*".to_string()];
        let deny = vec!["*-prod".to_string()];
        let levels: [(&'static str, &[String], &[String]); 2] =
            [("katalog", &kat_allow, &[]), ("crd", &crd_allow, &deny)];
        assert_eq!(decide("team-a", &levels), Decision::Permitted);
        assert_eq!(decide("team-alpha", &levels), Decision::Permitted);
        assert_eq!(
            decide("default", &levels),
            Decision::NotAllowed { level: "katalog" }
        );
        assert_eq!(
            decide("team-b", &levels),
            Decision::NotAllowed { level: "crd" }
        );
        assert!(matches!(
            decide("team-a-prod", &levels),
            Decision::Denied { .. }
        ));
    }
}
