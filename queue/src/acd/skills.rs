//! Skills: parsing `name=LEVEL` and `name>=LEVEL`, and interning names to small ids.

use std::collections::HashMap;

/// An interned skill name.
pub(super) type SkillId = u32;

/// The level an agent's skill has when written without `=N`.
pub(super) const DEFAULT_LEVEL: u8 = 5;
/// The highest level.
pub(super) const MAX_LEVEL: u8 = 10;

/// A call's requirement: the skill at least at this level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Req {
    pub(super) skill: SkillId,
    pub(super) min: u8,
}

/// `"language:es=9"` -> `("language:es", 9)`; `"language:es"` -> level 5.
pub(super) fn parse_agent_skill(s: &str) -> Option<(&str, u8)> {
    let (name, level) = match s.split_once('=') {
        Some((n, l)) => (n.trim(), l.trim().parse::<u8>().ok()?),
        None => (s.trim(), DEFAULT_LEVEL),
    };
    (!name.is_empty() && level <= MAX_LEVEL).then_some((name, level))
}

/// `"language:es>=7"` -> `("language:es", 7)`; `"language:es"` -> level 0 (has it at all).
pub(super) fn parse_requirement(s: &str) -> Option<(&str, u8)> {
    let (name, level) = match s.split_once(">=") {
        Some((n, l)) => (n.trim(), l.trim().parse::<u8>().ok()?.min(MAX_LEVEL)),
        None => (s.trim(), 0),
    };
    (!name.is_empty()).then_some((name, level))
}

/// Skill names to ids.
#[derive(Debug, Default)]
pub(super) struct Interner {
    ids: HashMap<String, SkillId>,
}

impl Interner {
    pub(super) fn intern(&mut self, name: &str) -> SkillId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = SkillId::try_from(self.ids.len()).unwrap_or(SkillId::MAX);
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Requirements as a sorted, de-duplicated list (the strictest level per
    /// skill). A requirement naming a skill no agent has gets a fresh id, which
    /// no agent matches. Unparsable requirements are dropped.
    pub(super) fn requirements(&mut self, skills: &[String]) -> Vec<Req> {
        let mut reqs: Vec<Req> = skills
            .iter()
            .filter_map(|s| parse_requirement(s))
            .map(|(name, min)| Req {
                skill: self.intern(name),
                min,
            })
            .collect();
        reqs.sort_by(|a, b| a.skill.cmp(&b.skill).then(b.min.cmp(&a.min)));
        reqs.dedup_by_key(|r| r.skill);
        reqs
    }
}

/// An agent's skills, sorted by id.
#[derive(Debug, Clone, Default)]
pub(super) struct AgentSkills(pub(super) Vec<(SkillId, u8)>);

impl AgentSkills {
    pub(super) fn new(interner: &mut Interner, skills: &[String]) -> AgentSkills {
        let mut v: Vec<(SkillId, u8)> = skills
            .iter()
            .filter_map(|s| parse_agent_skill(s))
            .map(|(n, l)| (interner.intern(n), l))
            .collect();
        v.sort_unstable();
        v.dedup_by_key(|(id, _)| *id);
        AgentSkills(v)
    }

    pub(super) fn level(&self, skill: SkillId) -> Option<u8> {
        self.0
            .binary_search_by_key(&skill, |(id, _)| *id)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, l)| *l)
    }

    /// The sum of the agent's levels in the required skills, or `None` if a
    /// requirement is not met.
    pub(super) fn score(&self, reqs: &[Req]) -> Option<u32> {
        let mut total = 0u32;
        for r in reqs {
            let l = self.level(r.skill)?;
            if l < r.min {
                return None;
            }
            total += u32::from(l);
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels() {
        assert_eq!(parse_agent_skill("language:es=9"), Some(("language:es", 9)));
        assert_eq!(parse_agent_skill("language:es"), Some(("language:es", 5)));
        assert_eq!(parse_agent_skill("x=11"), None);
        assert_eq!(parse_agent_skill("=3"), None);
        assert_eq!(parse_requirement("language:es>=7"), Some(("language:es", 7)));
        assert_eq!(parse_requirement("language:es"), Some(("language:es", 0)));
        assert_eq!(parse_requirement(">=2"), None);
    }

    #[test]
    fn scores() {
        let mut i = Interner::default();
        let a = AgentSkills::new(&mut i, &["es=9".into(), "tv=3".into()]);
        let r = i.requirements(&["es>=5".into(), "tv".into()]);
        assert_eq!(a.score(&r), Some(12));
        let r = i.requirements(&["es>=10".into()]);
        assert_eq!(a.score(&r), None);
        let r = i.requirements(&["fr".into()]);
        assert_eq!(a.score(&r), None);
    }
}
