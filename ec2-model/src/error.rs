//! The EC2 error envelope: typed error codes, HTTP statuses and the XML clients parse.
//!
//! EC2 answers every failure with the same envelope (note `RequestID`, unlike the `requestId` of
//! success bodies):
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <Response><Errors><Error><Code>InvalidGroup.NotFound</Code><Message>..</Message></Error></Errors><RequestID>..</RequestID></Response>
//! ```
//!
//! boto 2 reads the code from no other shape, botocore maps `Code` to `ClientError`'s
//! `Error.Code`.

use std::fmt;

use crate::xml::escape_into;

/// An EC2 error code, as it appears in `<Code>`.
///
/// The HTTP status of each code is [`ErrorCode::http_status`]: 400 for client errors, 401 for
/// authentication failures, 403 for authorisation and signature failures, 412 for a successful
/// dry run, 500/503 for server faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    // --- Request shape -----------------------------------------------------------------------
    /// A required parameter is absent.
    MissingParameter,
    /// A parameter has a value outside its domain.
    InvalidParameterValue,
    /// Parameters that cannot be used together.
    InvalidParameterCombination,
    /// An unknown field inside a structure this crate reads (`IpPermissions.N.Foo`,
    /// `Filter.N.Foo`, `IpPermissions.N.IpRanges.M.Foo`...). Unknown top-level names are ignored.
    UnknownParameter,
    /// The `Action` parameter names no action.
    InvalidAction,
    /// No `Action` parameter.
    MissingAction,
    /// The query string or form body is not valid URL encoding (bad `%` escape, bad UTF-8).
    MalformedQueryString,
    /// The `Version` parameter names an API version this crate does not speak.
    NoSuchVersion,
    /// The request would have succeeded but `DryRun=true` was given (HTTP 412).
    DryRunOperation,
    // --- Addresses ---------------------------------------------------------------------------
    /// No address with that public IP.
    InvalidAddressNotFound,
    /// No address with that allocation id.
    InvalidAllocationIdNotFound,
    /// The allocation id is not `eipalloc-` + hex.
    InvalidAllocationIdMalformed,
    /// No association with that id.
    InvalidAssociationIdNotFound,
    /// The association id is not `eipassoc-` + hex.
    InvalidAssociationIdMalformed,
    /// The address is associated and `AllowReassociation=false`.
    ResourceAlreadyAssociated,
    /// The address is in use (releasing an associated VPC address).
    InvalidIpAddressInUse,
    /// The account reached its address limit.
    AddressLimitExceeded,
    // --- Security groups ---------------------------------------------------------------------
    /// No such security group.
    InvalidGroupNotFound,
    /// A security group with that name exists.
    InvalidGroupDuplicate,
    /// The group id is not `sg-` + hex.
    InvalidGroupIdMalformed,
    /// The group cannot be deleted: another group's rules reference it (EC2-Classic spelling;
    /// the message names the referencing groups).
    InvalidGroupInUse,
    /// The group cannot be deleted: something still depends on it, such as an instance
    /// (VPC spelling).
    DependencyViolation,
    /// The rule already exists.
    InvalidPermissionDuplicate,
    /// The rule to revoke does not exist.
    InvalidPermissionNotFound,
    /// The rule's structure is malformed: a source group pair that names no group
    /// (`IpPermissions.N.Groups.M` with only `UserId`, or `SourceSecurityGroupOwnerId` without
    /// `SourceSecurityGroupName`). A bad CIDR block is `InvalidParameterValue`, as EC2 and moto
    /// answer.
    InvalidPermissionMalformed,
    /// The group has too many rules.
    RulesPerSecurityGroupLimitExceeded,
    /// The account reached its security group limit.
    SecurityGroupLimitExceeded,
    // --- Instances and images ----------------------------------------------------------------
    /// No such instance.
    InvalidInstanceIdNotFound,
    /// The instance id is not `i-` + hex.
    InvalidInstanceIdMalformed,
    /// No such image.
    InvalidAmiIdNotFound,
    /// The image id is not `ami-` + hex.
    InvalidAmiIdMalformed,
    /// The instance is not in a state that allows the operation.
    IncorrectInstanceState,
    /// The account reached its instance limit.
    InstanceLimitExceeded,
    // --- Authentication and authorisation ----------------------------------------------------
    /// The credentials could not be validated (unknown access key...). HTTP 401.
    AuthFailure,
    /// The request's timestamp is outside the allowed clock skew or the presigned URL expired.
    RequestExpired,
    /// The signature is incomplete (missing part of the `Authorization` header).
    IncompleteSignature,
    /// No authentication information at all. HTTP 401.
    MissingAuthenticationToken,
    /// The signature does not match. HTTP 403.
    SignatureDoesNotMatch,
    /// The access key id is not known. HTTP 403.
    InvalidClientTokenId,
    /// The caller is not allowed to perform the operation. HTTP 403.
    UnauthorizedOperation,
    // --- Server ------------------------------------------------------------------------------
    /// An internal error. HTTP 500.
    InternalError,
    /// The service is unavailable. HTTP 503.
    Unavailable,
    /// Too many requests. HTTP 503.
    RequestLimitExceeded,
}

impl ErrorCode {
    /// Every code, for tests and tables.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::MissingParameter,
        ErrorCode::InvalidParameterValue,
        ErrorCode::InvalidParameterCombination,
        ErrorCode::UnknownParameter,
        ErrorCode::InvalidAction,
        ErrorCode::MissingAction,
        ErrorCode::MalformedQueryString,
        ErrorCode::NoSuchVersion,
        ErrorCode::DryRunOperation,
        ErrorCode::InvalidAddressNotFound,
        ErrorCode::InvalidAllocationIdNotFound,
        ErrorCode::InvalidAllocationIdMalformed,
        ErrorCode::InvalidAssociationIdNotFound,
        ErrorCode::InvalidAssociationIdMalformed,
        ErrorCode::ResourceAlreadyAssociated,
        ErrorCode::InvalidIpAddressInUse,
        ErrorCode::AddressLimitExceeded,
        ErrorCode::InvalidGroupNotFound,
        ErrorCode::InvalidGroupDuplicate,
        ErrorCode::InvalidGroupIdMalformed,
        ErrorCode::InvalidGroupInUse,
        ErrorCode::DependencyViolation,
        ErrorCode::InvalidPermissionDuplicate,
        ErrorCode::InvalidPermissionNotFound,
        ErrorCode::InvalidPermissionMalformed,
        ErrorCode::RulesPerSecurityGroupLimitExceeded,
        ErrorCode::SecurityGroupLimitExceeded,
        ErrorCode::InvalidInstanceIdNotFound,
        ErrorCode::InvalidInstanceIdMalformed,
        ErrorCode::InvalidAmiIdNotFound,
        ErrorCode::InvalidAmiIdMalformed,
        ErrorCode::IncorrectInstanceState,
        ErrorCode::InstanceLimitExceeded,
        ErrorCode::AuthFailure,
        ErrorCode::RequestExpired,
        ErrorCode::IncompleteSignature,
        ErrorCode::MissingAuthenticationToken,
        ErrorCode::SignatureDoesNotMatch,
        ErrorCode::InvalidClientTokenId,
        ErrorCode::UnauthorizedOperation,
        ErrorCode::InternalError,
        ErrorCode::Unavailable,
        ErrorCode::RequestLimitExceeded,
    ];

    /// The code as EC2 spells it in `<Code>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingParameter => "MissingParameter",
            ErrorCode::InvalidParameterValue => "InvalidParameterValue",
            ErrorCode::InvalidParameterCombination => "InvalidParameterCombination",
            ErrorCode::UnknownParameter => "UnknownParameter",
            ErrorCode::InvalidAction => "InvalidAction",
            ErrorCode::MissingAction => "MissingAction",
            ErrorCode::MalformedQueryString => "MalformedQueryString",
            ErrorCode::NoSuchVersion => "NoSuchVersion",
            ErrorCode::DryRunOperation => "DryRunOperation",
            ErrorCode::InvalidAddressNotFound => "InvalidAddress.NotFound",
            ErrorCode::InvalidAllocationIdNotFound => "InvalidAllocationID.NotFound",
            ErrorCode::InvalidAllocationIdMalformed => "InvalidAllocationID.Malformed",
            ErrorCode::InvalidAssociationIdNotFound => "InvalidAssociationID.NotFound",
            ErrorCode::InvalidAssociationIdMalformed => "InvalidAssociationID.Malformed",
            ErrorCode::ResourceAlreadyAssociated => "Resource.AlreadyAssociated",
            ErrorCode::InvalidIpAddressInUse => "InvalidIPAddress.InUse",
            ErrorCode::AddressLimitExceeded => "AddressLimitExceeded",
            ErrorCode::InvalidGroupNotFound => "InvalidGroup.NotFound",
            ErrorCode::InvalidGroupDuplicate => "InvalidGroup.Duplicate",
            ErrorCode::InvalidGroupIdMalformed => "InvalidGroupId.Malformed",
            ErrorCode::InvalidGroupInUse => "InvalidGroup.InUse",
            ErrorCode::DependencyViolation => "DependencyViolation",
            ErrorCode::InvalidPermissionDuplicate => "InvalidPermission.Duplicate",
            ErrorCode::InvalidPermissionNotFound => "InvalidPermission.NotFound",
            ErrorCode::InvalidPermissionMalformed => "InvalidPermission.Malformed",
            ErrorCode::RulesPerSecurityGroupLimitExceeded => "RulesPerSecurityGroupLimitExceeded",
            ErrorCode::SecurityGroupLimitExceeded => "SecurityGroupLimitExceeded",
            ErrorCode::InvalidInstanceIdNotFound => "InvalidInstanceID.NotFound",
            ErrorCode::InvalidInstanceIdMalformed => "InvalidInstanceID.Malformed",
            ErrorCode::InvalidAmiIdNotFound => "InvalidAMIID.NotFound",
            ErrorCode::InvalidAmiIdMalformed => "InvalidAMIID.Malformed",
            ErrorCode::IncorrectInstanceState => "IncorrectInstanceState",
            ErrorCode::InstanceLimitExceeded => "InstanceLimitExceeded",
            ErrorCode::AuthFailure => "AuthFailure",
            ErrorCode::RequestExpired => "RequestExpired",
            ErrorCode::IncompleteSignature => "IncompleteSignature",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::InvalidClientTokenId => "InvalidClientTokenId",
            ErrorCode::UnauthorizedOperation => "UnauthorizedOperation",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::Unavailable => "Unavailable",
            ErrorCode::RequestLimitExceeded => "RequestLimitExceeded",
        }
    }

    /// Looks a code up by its EC2 spelling (exact, case-sensitive).
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// The HTTP status EC2 answers this code with.
    ///
    /// 401 for `AuthFailure` and `MissingAuthenticationToken`; 403 for `SignatureDoesNotMatch`,
    /// `InvalidClientTokenId` and `UnauthorizedOperation`; 412 for `DryRunOperation`; 500 for
    /// `InternalError`; 503 for `Unavailable` and `RequestLimitExceeded`; 400 for the rest.
    ///
    /// Sources: EC2 answers `AuthFailure` with 401 and `SignatureDoesNotMatch` with 403 (as seen
    /// by boto, the AWS SDKs and Terraform users); `RequestExpired` and `IncompleteSignature` are
    /// 400 in AWS's common-errors reference. That reference lists `MissingAuthenticationToken` as
    /// 403 and `MalformedQueryString` as 404 for the Query services in general; EC2 itself is not
    /// documented there, and this crate keeps EC2's 401-for-unauthenticated and 400-for-malformed
    /// convention.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::AuthFailure | ErrorCode::MissingAuthenticationToken => 401,
            ErrorCode::SignatureDoesNotMatch
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::UnauthorizedOperation => 403,
            ErrorCode::DryRunOperation => 412,
            ErrorCode::InternalError => 500,
            ErrorCode::Unavailable | ErrorCode::RequestLimitExceeded => 503,
            _ => 400,
        }
    }

    /// Whether the fault is the server's (5xx), so that clients may retry.
    pub const fn is_server_fault(self) -> bool {
        self.http_status() >= 500
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An EC2 error: a code and a message naming the offending parameter and value.
///
/// Every failure of this crate (parsing, validation, authentication) and every failure a server
/// reports to a client is one of these; [`Ec2Error::render_xml`] gives the body and
/// [`Ec2Error::http_status`] the status line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Ec2Error {
    code: ErrorCode,
    message: String,
}

/// Longest value quoted in a message; longer ones are cut (with `...`) so that an error about a
/// huge parameter stays small.
const MAX_QUOTED: usize = 256;

/// Quotes a client-supplied value for a message, cut to a bounded length on a char boundary.
pub(crate) fn quote(value: &str) -> String {
    if value.len() <= MAX_QUOTED {
        return value.to_owned();
    }
    let mut end = MAX_QUOTED;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &value[..end])
}

impl Ec2Error {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Ec2Error {
            code,
            message: message.into(),
        }
    }

    /// The typed code.
    pub fn error_code(&self) -> ErrorCode {
        self.code
    }

    /// The code as EC2 spells it (`InvalidGroup.NotFound`).
    pub fn code(&self) -> &'static str {
        self.code.as_str()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// `MissingParameter`: "The request must contain the parameter NAME".
    pub fn missing_parameter(name: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::MissingParameter,
            format!("The request must contain the parameter {name}"),
        )
    }

    /// `InvalidParameterValue` naming the parameter, the value and why.
    pub fn invalid_value(name: impl fmt::Display, value: &str, why: &str) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "Value ({}) for parameter {name} is invalid. {why}",
                quote(value)
            ),
        )
    }

    /// `InvalidParameterCombination` with a message.
    pub fn invalid_combination(message: impl Into<String>) -> Self {
        Ec2Error::new(ErrorCode::InvalidParameterCombination, message)
    }

    /// `DryRunOperation`, the answer to a request that would have succeeded with `DryRun=true`.
    pub fn dry_run_operation() -> Self {
        Ec2Error::new(
            ErrorCode::DryRunOperation,
            "Request would have succeeded, but DryRun flag is set.",
        )
    }

    /// `InvalidGroup.NotFound` for a group named by name or id.
    pub fn group_not_found(group: impl fmt::Display) -> Self {
        let g = quote(&group.to_string());
        Ec2Error::new(
            ErrorCode::InvalidGroupNotFound,
            format!("The security group '{g}' does not exist"),
        )
    }

    /// `InvalidGroup.Duplicate`.
    pub fn group_duplicate(name: &str) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidGroupDuplicate,
            format!("The security group '{}' already exists", quote(name)),
        )
    }

    /// `DependencyViolation`: something (an instance...) still depends on the group.
    pub fn group_in_use(group: impl fmt::Display, by: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::DependencyViolation,
            format!("resource {group} has a dependent object ({by})"),
        )
    }

    /// `InvalidGroup.InUse`: other groups' rules reference the group; the message names them
    /// (at most 16, then a count), as EC2 does: `Group sg-1 is used by groups: sg-2, sg-3`.
    pub fn group_referenced<G: fmt::Display>(group: impl fmt::Display, by: &[G]) -> Self {
        const SHOWN: usize = 16;
        let mut names = by
            .iter()
            .take(SHOWN)
            .map(|g| quote(&g.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        if by.len() > SHOWN {
            names.push_str(&format!(" and {} more", by.len() - SHOWN));
        }
        Ec2Error::new(
            ErrorCode::InvalidGroupInUse,
            format!("Group {group} is used by groups: {names}"),
        )
    }

    /// `InvalidPermission.Malformed`: the rule's structure makes no sense; `what` says where
    /// and why (`IpPermissions.1.Groups.1 names no security group`).
    pub fn permission_malformed(what: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidPermissionMalformed,
            format!("The specified security group rule is malformed: {what}"),
        )
    }

    /// `InvalidPermission.Duplicate`, describing the rule.
    pub fn permission_duplicate(rule: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidPermissionDuplicate,
            format!("the specified rule \"{rule}\" already exists"),
        )
    }

    /// `InvalidPermission.NotFound`.
    pub fn permission_not_found(rule: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidPermissionNotFound,
            format!("The specified rule \"{rule}\" does not exist in this security group"),
        )
    }

    /// `RulesPerSecurityGroupLimitExceeded`.
    pub fn rules_limit(limit: usize) -> Self {
        Ec2Error::new(
            ErrorCode::RulesPerSecurityGroupLimitExceeded,
            format!("The maximum number of rules per security group ({limit}) has been reached."),
        )
    }

    /// `InvalidInstanceID.NotFound`.
    pub fn instance_not_found(id: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidInstanceIdNotFound,
            format!("The instance ID '{id}' does not exist"),
        )
    }

    /// `InvalidAMIID.NotFound`.
    pub fn image_not_found(id: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidAmiIdNotFound,
            format!("The image id '[{id}]' does not exist"),
        )
    }

    /// `InvalidAddress.NotFound`.
    pub fn address_not_found(ip: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidAddressNotFound,
            format!("The address '{ip}' does not exist"),
        )
    }

    /// `InvalidAllocationID.NotFound`.
    pub fn allocation_not_found(id: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidAllocationIdNotFound,
            format!("The allocation ID '{id}' does not exist"),
        )
    }

    /// `InvalidAssociationID.NotFound`.
    pub fn association_not_found(id: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidAssociationIdNotFound,
            format!("The association ID '{id}' does not exist"),
        )
    }

    /// `Resource.AlreadyAssociated`: the address is associated and reassociation was refused.
    pub fn already_associated(address: impl fmt::Display, association: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::ResourceAlreadyAssociated,
            format!("resource {address} is already associated with {association}"),
        )
    }

    /// `InvalidIPAddress.InUse`: releasing an address that is still associated.
    pub fn address_in_use(address: impl fmt::Display) -> Self {
        Ec2Error::new(
            ErrorCode::InvalidIpAddressInUse,
            format!("Address {address} is in use."),
        )
    }

    /// `AddressLimitExceeded`.
    pub fn address_limit(limit: usize) -> Self {
        Ec2Error::new(
            ErrorCode::AddressLimitExceeded,
            format!("The maximum number of addresses ({limit}) has been reached."),
        )
    }

    /// `UnauthorizedOperation`.
    pub fn unauthorized() -> Self {
        Ec2Error::new(
            ErrorCode::UnauthorizedOperation,
            "You are not authorized to perform this operation.",
        )
    }

    /// `InternalError` with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        Ec2Error::new(ErrorCode::InternalError, message)
    }

    /// The error envelope, with an XML declaration:
    /// `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
    pub fn render_xml(&self, request_id: &str) -> String {
        let mut out = String::with_capacity(160 + self.message.len() + request_id.len());
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>");
        out.push_str(self.code.as_str());
        out.push_str("</Code><Message>");
        escape_into(&mut out, &self.message);
        out.push_str("</Message></Error></Errors><RequestID>");
        escape_into(&mut out, request_id);
        out.push_str("</RequestID></Response>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_ec2() {
        assert_eq!(ErrorCode::AuthFailure.http_status(), 401);
        assert_eq!(ErrorCode::MissingAuthenticationToken.http_status(), 401);
        assert_eq!(ErrorCode::SignatureDoesNotMatch.http_status(), 403);
        assert_eq!(ErrorCode::UnauthorizedOperation.http_status(), 403);
        assert_eq!(ErrorCode::RequestExpired.http_status(), 400);
        assert_eq!(ErrorCode::InvalidGroupNotFound.http_status(), 400);
        assert_eq!(ErrorCode::DryRunOperation.http_status(), 412);
        assert_eq!(ErrorCode::InternalError.http_status(), 500);
        assert_eq!(ErrorCode::Unavailable.http_status(), 503);
        assert!(ErrorCode::Unavailable.is_server_fault());
        assert!(!ErrorCode::InvalidParameterValue.is_server_fault());
    }

    #[test]
    fn codes_round_trip_and_are_unique() {
        for (i, c) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(ErrorCode::from_code(c.as_str()), Some(*c));
            for d in &ErrorCode::ALL[i + 1..] {
                assert_ne!(c.as_str(), d.as_str());
            }
        }
        assert_eq!(
            ErrorCode::InvalidAmiIdNotFound.as_str(),
            "InvalidAMIID.NotFound"
        );
        assert_eq!(ErrorCode::from_code("NoSuchThing"), None);
    }

    #[test]
    fn envelope_escapes_everything() {
        let e = Ec2Error::new(
            ErrorCode::InvalidGroupNotFound,
            "The security group '<a&b>' does not exist",
        );
        assert_eq!(
            e.render_xml("r-<1>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidGroup.NotFound</Code>\
             <Message>The security group &apos;&lt;a&amp;b&gt;&apos; does not exist</Message></Error></Errors>\
             <RequestID>r-&lt;1&gt;</RequestID></Response>"
        );
        assert_eq!(e.code(), "InvalidGroup.NotFound");
        assert_eq!(
            e.to_string(),
            "InvalidGroup.NotFound: The security group '<a&b>' does not exist"
        );
    }

    /// Every constructor for a state error: its code, its status, and the offending value in
    /// its message.
    #[test]
    fn state_constructors_name_the_value() {
        let cases: Vec<(Ec2Error, ErrorCode, u16, &str)> = vec![
            (
                Ec2Error::address_not_found("198.51.100.7"),
                ErrorCode::InvalidAddressNotFound,
                400,
                "198.51.100.7",
            ),
            (
                Ec2Error::allocation_not_found("eipalloc-1a2b"),
                ErrorCode::InvalidAllocationIdNotFound,
                400,
                "eipalloc-1a2b",
            ),
            (
                Ec2Error::association_not_found("eipassoc-1a2b"),
                ErrorCode::InvalidAssociationIdNotFound,
                400,
                "eipassoc-1a2b",
            ),
            (
                Ec2Error::already_associated("198.51.100.7", "i-1a2b"),
                ErrorCode::ResourceAlreadyAssociated,
                400,
                "i-1a2b",
            ),
            (
                Ec2Error::already_associated("198.51.100.7", "i-1a2b"),
                ErrorCode::ResourceAlreadyAssociated,
                400,
                "198.51.100.7",
            ),
            (
                Ec2Error::address_in_use("198.51.100.8"),
                ErrorCode::InvalidIpAddressInUse,
                400,
                "198.51.100.8",
            ),
            (
                Ec2Error::address_limit(5),
                ErrorCode::AddressLimitExceeded,
                400,
                "5",
            ),
            (
                Ec2Error::group_not_found("sg-0bad"),
                ErrorCode::InvalidGroupNotFound,
                400,
                "sg-0bad",
            ),
            (
                Ec2Error::group_duplicate("web"),
                ErrorCode::InvalidGroupDuplicate,
                400,
                "'web'",
            ),
            (
                Ec2Error::group_in_use("sg-1a", "instance i-2b"),
                ErrorCode::DependencyViolation,
                400,
                "i-2b",
            ),
            (
                Ec2Error::group_in_use("sg-1a", "instance i-2b"),
                ErrorCode::DependencyViolation,
                400,
                "sg-1a",
            ),
            (
                Ec2Error::group_referenced("sg-1a", &["sg-2b", "sg-3c"]),
                ErrorCode::InvalidGroupInUse,
                400,
                "Group sg-1a is used by groups: sg-2b, sg-3c",
            ),
            (
                Ec2Error::permission_duplicate("tcp 22 from 10.0.0.0/8"),
                ErrorCode::InvalidPermissionDuplicate,
                400,
                "tcp 22 from 10.0.0.0/8",
            ),
            (
                Ec2Error::permission_not_found("udp 53 from sg-4d"),
                ErrorCode::InvalidPermissionNotFound,
                400,
                "udp 53 from sg-4d",
            ),
            (
                Ec2Error::permission_malformed("IpPermissions.3.Groups.1"),
                ErrorCode::InvalidPermissionMalformed,
                400,
                "IpPermissions.3.Groups.1",
            ),
            (
                Ec2Error::rules_limit(60),
                ErrorCode::RulesPerSecurityGroupLimitExceeded,
                400,
                "(60)",
            ),
            (
                Ec2Error::instance_not_found("i-0feed"),
                ErrorCode::InvalidInstanceIdNotFound,
                400,
                "i-0feed",
            ),
            (
                Ec2Error::image_not_found("ami-0feed"),
                ErrorCode::InvalidAmiIdNotFound,
                400,
                "ami-0feed",
            ),
            (
                Ec2Error::invalid_combination("CidrIp with SourceSecurityGroupName"),
                ErrorCode::InvalidParameterCombination,
                400,
                "CidrIp with SourceSecurityGroupName",
            ),
            (
                Ec2Error::internal("store down"),
                ErrorCode::InternalError,
                500,
                "store down",
            ),
            (
                Ec2Error::dry_run_operation(),
                ErrorCode::DryRunOperation,
                412,
                "DryRun",
            ),
            (
                Ec2Error::unauthorized(),
                ErrorCode::UnauthorizedOperation,
                403,
                "not authorized",
            ),
        ];
        for (e, code, status, value) in cases {
            assert_eq!(e.error_code(), code, "{e}");
            assert_eq!(e.code(), code.as_str());
            assert_eq!(e.http_status(), status, "{e}");
            assert!(e.message().contains(value), "{value:?} not in {e}");
            // The message reaches the envelope (escaped), under the code.
            let xml = e.render_xml("r-1");
            assert!(
                xml.contains(&format!("<Code>{}</Code>", code.as_str())),
                "{xml}"
            );
        }
        // A long referrer list stays bounded and says how many were left out.
        let many: Vec<String> = (0..100).map(|i| format!("sg-{i:04x}")).collect();
        let e = Ec2Error::group_referenced("sg-1a", &many);
        assert!(e.message().ends_with("and 84 more"), "{e}");
        assert!(e.message().contains("sg-000f") && !e.message().contains("sg-0010"));
    }

    #[test]
    fn unauthorized_renders_403_in_the_envelope() {
        let e = Ec2Error::unauthorized();
        assert_eq!(e.http_status(), 403);
        assert_eq!(
            e.render_xml("7f0c-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
             <Code>UnauthorizedOperation</Code>\
             <Message>You are not authorized to perform this operation.</Message></Error></Errors>\
             <RequestID>7f0c-1</RequestID></Response>"
        );
    }

    #[test]
    fn messages_name_parameter_and_value() {
        let e = Ec2Error::invalid_value("FromPort", "abc", "It must be an integer.");
        assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue);
        assert!(e.message().contains("FromPort") && e.message().contains("abc"));
        let long = "x".repeat(10_000);
        let e = Ec2Error::invalid_value("GroupName", &long, "Too long.");
        assert!(e.message().len() < 400);
        assert!(Ec2Error::missing_parameter("GroupId")
            .message()
            .ends_with("GroupId"));
    }
}
