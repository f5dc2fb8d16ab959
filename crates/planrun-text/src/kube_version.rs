//! A Kubernetes server's version, as `GET /version` reports it in `gitVersion`
//! (`v1.36.3`, `v1.33.1+k3s1`, `v1.30.4-eks-a737599`), read by the engine (what a
//! namespace's deletion does on that server) and by the sandbox's `flux` stand-in
//! (`flux check --pre`).

/// A server version, compared as semver compares it (a pre-release of 1.32.0 passes
/// `>=1.32.0-0`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// What follows the patch (`-rc.1`, `+k3s1`), as printed.
    pub rest: String,
}

impl KubeVersion {
    /// `major.minor.0`.
    pub const fn new(major: u64, minor: u64) -> Self {
        Self {
            major,
            minor,
            patch: 0,
            rest: String::new(),
        }
    }

    /// Reads `v1.36.3`, `1.33`, `v1.33.1+k3s1`; `None` without a numeric major.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let end = text.find(['-', '+']).unwrap_or(text.len());
        let mut parts = text[..end].split('.').map(|p| p.parse::<u64>().ok());
        Some(Self {
            major: parts.next()??,
            minor: parts.next().flatten().unwrap_or(0),
            patch: parts.next().flatten().unwrap_or(0),
            rest: text[end..].to_owned(),
        })
    }

    /// Whether this is `major.minor` or later, whatever its patch and suffix.
    pub fn at_least(&self, major: u64, minor: u64) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.major, self.minor, self.patch, self.rest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_and_compared_as_semver_does() {
        let v = |t: &str| KubeVersion::parse(t).unwrap();
        assert!(v("v1.33.0") >= KubeVersion::new(1, 32));
        assert!(v("v1.32.0") >= KubeVersion::new(1, 32));
        assert!(v("v1.31.4") < KubeVersion::new(1, 32));
        assert_eq!(v("v1.33.1+k3s1").to_string(), "1.33.1+k3s1");
        assert_eq!(v("1.33").to_string(), "1.33.0");
        assert_eq!(v("v1.30.4-eks-a737599").minor, 30);
        assert!(KubeVersion::parse("garbage").is_none());
    }

    #[test]
    fn at_least_looks_at_major_and_minor_alone() {
        let v = |t: &str| KubeVersion::parse(t).unwrap();
        assert!(v("v1.34.0-rc.1").at_least(1, 34));
        assert!(v("v1.36.3").at_least(1, 34));
        assert!(!v("v1.33.13").at_least(1, 34));
        assert!(v("v2.0.0").at_least(1, 34));
    }
}
