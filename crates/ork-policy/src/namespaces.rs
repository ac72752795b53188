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

/// The namespaces an effective allow-list pins to (docs/security.md §2.2): when some level's
/// non-empty allow-list holds only exact names, the permitted namespaces are those names that
/// every level allows and none denies, sorted. `None` when no level is made only of exact names
/// (the namespaces are open-ended: a `*` pattern, a prefix or a suffix, or no allow-list).
///
/// The RBAC derived from a Katalog grants a pinned CRD's permissions in these namespaces only,
/// so the runtime watches them one by one, never cluster-wide.
pub fn pinned(levels: &[(&'static str, &[String], &[String])]) -> Option<Vec<String>> {
    let exact = |p: &String| !p.contains('*');
    let mut names: Vec<String> = levels
        .iter()
        .filter(|(_, allow, _)| !allow.is_empty() && allow.iter().all(exact))
        .flat_map(|(_, allow, _)| allow.iter().cloned())
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort();
    names.dedup();
    names.retain(|n| decide(n, levels) == Decision::Permitted);
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_allow_lists_pin() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (kat, crd, deny, none) = (
            v(&["team-*"]),
            v(&["team-b", "team-a"]),
            v(&["team-b"]),
            v(&[]),
        );
        // one exact level pins, the other levels filter
        let levels: [(&'static str, &[String], &[String]); 2] =
            [("Katalog", &kat, &none), ("CRD", &crd, &none)];
        assert_eq!(pinned(&levels), Some(v(&["team-a", "team-b"])));
        let levels: [(&'static str, &[String], &[String]); 2] =
            [("Katalog", &kat, &none), ("CRD", &crd, &deny)];
        assert_eq!(pinned(&levels), Some(v(&["team-a"])));
        // a pattern anywhere in the only allow-list leaves the namespaces open
        let levels: [(&'static str, &[String], &[String]); 2] =
            [("Katalog", &kat, &none), ("CRD", &none, &deny)];
        assert_eq!(pinned(&levels), None);
        let star = v(&["*"]);
        let levels: [(&'static str, &[String], &[String]); 1] = [("CRD", &star, &none)];
        assert_eq!(pinned(&levels), None);
    }

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
