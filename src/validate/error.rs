//! Plan diagnostics: each problem points at the offending key or value, and all of a
//! plan's problems are reported together.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

/// What went wrong, as a stable code (shown as `planrun::<code>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Syntax,
    UnknownKey,
    WrongType,
    MissingField,
    BadValue,
    BadDuration,
    BadRegex,
    UnknownTaskType,
    DuplicateDependency,
    UnknownDependency,
    Cycle,
    UndefinedVariable,
    ConflictingFields,
    /// A `{{ name }}` in a script where its value cannot go in as one quoted word.
    UnquotableReference,
    /// A `{{ raw(name) }}` in a script: pasted as written (a warning).
    RawReference,
    /// A variable whose environment variable is not set, checked with a stand-in
    /// (a warning; see [`Unset::StandIn`](super::Unset::StandIn)).
    StandIn,
}

impl ErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "planrun::syntax",
            ErrorKind::UnknownKey => "planrun::unknown_key",
            ErrorKind::WrongType => "planrun::wrong_type",
            ErrorKind::MissingField => "planrun::missing_field",
            ErrorKind::BadValue => "planrun::bad_value",
            ErrorKind::BadDuration => "planrun::bad_duration",
            ErrorKind::BadRegex => "planrun::bad_regex",
            ErrorKind::UnknownTaskType => "planrun::unknown_task_type",
            ErrorKind::DuplicateDependency => "planrun::duplicate_dependency",
            ErrorKind::UnknownDependency => "planrun::unknown_dependency",
            ErrorKind::Cycle => "planrun::cycle",
            ErrorKind::UndefinedVariable => "planrun::undefined_variable",
            ErrorKind::ConflictingFields => "planrun::conflicting_fields",
            ErrorKind::UnquotableReference => "planrun::unquotable_reference",
            ErrorKind::RawReference => "planrun::raw_reference",
            ErrorKind::StandIn => "planrun::stand_in",
        }
    }

    /// Whether it is said as a warning: the plan is still valid.
    pub fn is_warning(self) -> bool {
        matches!(self, ErrorKind::RawReference | ErrorKind::StandIn)
    }
}

/// One problem in a plan, with the place it is at.
#[derive(Debug, Clone)]
pub struct PlanError {
    pub kind: ErrorKind,
    pub message: String,
    /// (span, label) pairs; the first is the primary place.
    pub labels: Vec<(SourceSpan, String)>,
    pub help: Option<String>,
    /// For a missing-key problem: the keys whose absence it is about (any one of
    /// them would fix it). A misspelled key suggesting one of them explains it.
    pub missing: Vec<String>,
}

impl PlanError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            missing: Vec::new(),
        }
    }

    /// Says which keys this missing-key problem is about.
    pub fn about_missing<'k>(mut self, keys: impl IntoIterator<Item = &'k str>) -> Self {
        self.missing = keys.into_iter().map(str::to_owned).collect();
        self
    }

    /// Adds a labelled place in the plan.
    pub fn at(mut self, span: impl Into<SourceSpan>, label: impl Into<String>) -> Self {
        self.labels.push((span.into(), label.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The primary span's start, for sorting problems by position.
    pub fn offset(&self) -> usize {
        self.labels.first().map_or(0, |(s, _)| s.offset())
    }
}

/// A problem bound to its plan's source text, ready to render.
#[derive(Debug, Clone)]
pub struct PlanDiagnostic {
    error: PlanError,
    src: NamedSource<Arc<str>>,
}

impl fmt::Display for PlanDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.error.message)
    }
}

impl std::error::Error for PlanDiagnostic {}

impl Diagnostic for PlanDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.error.kind.code()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.error
            .kind
            .is_warning()
            .then_some(miette::Severity::Warning)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.error.labels.iter().enumerate().map(
            |(i, (span, label))| {
                let label = (!label.is_empty()).then(|| label.clone());
                if i == 0 {
                    LabeledSpan::new_primary_with_span(label, *span)
                } else {
                    LabeledSpan::new_with_span(label, *span)
                }
            },
        )))
    }
}

/// Every problem found in a plan. Rendering shows each with its own snippet.
#[derive(Debug)]
pub struct InvalidPlan {
    path: String,
    problems: Vec<PlanDiagnostic>,
}

impl InvalidPlan {
    pub fn new(src: NamedSource<Arc<str>>, path: String, mut errors: Vec<PlanError>) -> Self {
        errors.sort_by_key(PlanError::offset);
        let problems = errors
            .into_iter()
            .map(|error| PlanDiagnostic {
                error,
                src: src.clone(),
            })
            .collect();
        Self { path, problems }
    }

    /// The individual problems, in the order they appear in the file.
    pub fn problems(&self) -> impl Iterator<Item = &PlanError> {
        self.problems.iter().map(|p| &p.error)
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What a valid plan does that deserves a second look (a value pasted raw into a
/// script), rendered like problems but as warnings.
#[derive(Debug, Clone)]
pub struct PlanWarnings {
    path: String,
    warnings: Vec<PlanDiagnostic>,
}

impl PlanWarnings {
    pub fn new(src: NamedSource<Arc<str>>, path: String, mut warnings: Vec<PlanError>) -> Self {
        warnings.sort_by_key(PlanError::offset);
        let warnings = warnings
            .into_iter()
            .map(|error| PlanDiagnostic {
                error,
                src: src.clone(),
            })
            .collect();
        Self { path, warnings }
    }

    /// Each warning's message, in the order they appear in the file.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.warnings.iter().map(|w| w.error.message.as_str())
    }

    pub fn len(&self) -> usize {
        self.warnings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.warnings.is_empty()
    }
}

impl fmt::Display for PlanWarnings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.warnings.len() {
            1 => write!(f, "plan {}: 1 warning", self.path),
            n => write!(f, "plan {}: {n} warnings", self.path),
        }
    }
}

impl std::error::Error for PlanWarnings {}

impl Diagnostic for PlanWarnings {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("planrun::plan_warnings"))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Warning)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.warnings.iter().map(|p| p as &dyn Diagnostic)))
    }
}

impl fmt::Display for InvalidPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.len() {
            1 => write!(f, "plan {} is invalid: 1 problem", self.path),
            n => write!(f, "plan {} is invalid: {n} problems", self.path),
        }
    }
}

impl std::error::Error for InvalidPlan {}

impl Diagnostic for InvalidPlan {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("planrun::invalid_plan"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(
            "nothing ran; fix the problems below and run again",
        ))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}
