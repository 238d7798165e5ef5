//! API errors as AWS names them: [`ErrorCode`]s with their HTTP statuses for the JSON-document
//! services (written out by each protocol: `protocol::aws_json`, `protocol::rpc_v2_cbor`), and
//! the Query services' codes, EC2's dotted ones (`InvalidGroup.NotFound`) among them
//! ([`QueryError`]). Every control-plane error becomes an AWS error code here and nowhere else.

use axum::http::StatusCode;
use berth_control::iam::IamError;
use berth_control::{
    ClusterError, Ec2Code, Ec2Error, PageError, TaggingError, TaskDefinitionOpError, TaskError,
};

/// The AWS error codes berth answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the names are AWS's
pub enum ErrorCode {
    /// A request the server understood but refuses.
    ClientException,
    /// A parameter is invalid.
    InvalidParameterException,
    /// No such cluster.
    ClusterNotFoundException,
    /// No such resource.
    ResourceNotFoundException,
    /// A limit was hit.
    LimitExceededException,
    /// The target names no operation.
    UnknownOperationException,
    /// The body is not valid JSON or has wrong types.
    SerializationException,
    /// The request is not signed at all.
    MissingAuthenticationTokenException,
    /// The signature is malformed or lacks a part.
    IncompleteSignatureException,
    /// The access key id (or its session token) is not one berth issued.
    UnrecognizedClientException,
    /// The signature does not match, or is scoped to another region or service.
    InvalidSignatureException,
    /// The signature is outside its time window (JSON's `InvalidSignatureException`, the
    /// Query protocol's `RequestExpired`/`SignatureDoesNotMatch`).
    SignatureExpired,
    /// A temporary key's session has ended.
    ExpiredTokenException,
    /// The caller's policies do not allow the action, or the request is refused whoever
    /// sent it (`browser_guard`: not this server's name, a web page's request).
    AccessDeniedException,
    /// The body is larger than [`crate::MAX_BODY_BYTES`].
    RequestEntityTooLargeException,
    /// berth's own API: the path is served, not with this method.
    MethodNotAllowedException,
    /// The resource is being changed by another request.
    UpdateInProgressException,
    /// No such image.
    ImageNotFoundException,
    /// The resource is in use.
    ResourceInUseException,
    /// The server failed; nothing was written.
    ServerException,
}

impl ErrorCode {
    /// The HTTP status it is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::ServerException => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RequestEntityTooLargeException => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowedException => StatusCode::METHOD_NOT_ALLOWED,
            Self::MissingAuthenticationTokenException
            | Self::UnrecognizedClientException
            | Self::InvalidSignatureException
            | Self::SignatureExpired
            | Self::ExpiredTokenException
            | Self::AccessDeniedException => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Its name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientException => "ClientException",
            Self::InvalidParameterException => "InvalidParameterException",
            Self::ClusterNotFoundException => "ClusterNotFoundException",
            Self::ResourceNotFoundException => "ResourceNotFoundException",
            Self::LimitExceededException => "LimitExceededException",
            Self::UnknownOperationException => "UnknownOperationException",
            Self::SerializationException => "SerializationException",
            Self::MissingAuthenticationTokenException => "MissingAuthenticationTokenException",
            Self::IncompleteSignatureException => "IncompleteSignatureException",
            Self::UnrecognizedClientException => "UnrecognizedClientException",
            Self::InvalidSignatureException | Self::SignatureExpired => "InvalidSignatureException",
            Self::ExpiredTokenException => "ExpiredTokenException",
            Self::AccessDeniedException => "AccessDeniedException",
            Self::RequestEntityTooLargeException => "RequestEntityTooLargeException",
            Self::MethodNotAllowedException => "MethodNotAllowedException",
            Self::UpdateInProgressException => "UpdateInProgressException",
            Self::ImageNotFoundException => "ImageNotFoundException",
            Self::ResourceInUseException => "ResourceInUseException",
            Self::ServerException => "ServerException",
        }
    }
}

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The AWS error code.
    pub code: ErrorCode,
    /// What the user should know.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A server-side failure: the cause is logged once, in full, and the caller gets a
    /// message that leaks no internals.
    pub(crate) fn server(error: &dyn std::error::Error) -> Self {
        let chain = error_chain(error);
        tracing::error!(error = %chain, "request failed on the server side");
        Self::new(
            ErrorCode::ServerException,
            "berth failed to complete the request; nothing was changed. See the server log.",
        )
    }
}

/// An error and its causes on one line, as they are logged.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn invalid(error: &impl ToString) -> ApiError {
    ApiError::new(ErrorCode::InvalidParameterException, error.to_string())
}

impl From<PageError> for ApiError {
    fn from(error: PageError) -> Self {
        invalid(&error)
    }
}

impl From<ClusterError> for ApiError {
    fn from(error: ClusterError) -> Self {
        use ClusterError as E;
        match &error {
            E::NotFound(_) => ApiError::new(ErrorCode::ClusterNotFoundException, error.to_string()),
            E::InvalidName(_)
            | E::InvalidSetting(_)
            | E::InvalidCapacityProviders(_)
            | E::Tags(_)
            | E::TooManyClusters(_)
            | E::Page(_) => invalid(&error),
            E::Contended => ApiError::new(ErrorCode::UpdateInProgressException, error.to_string()),
            E::Store(_) | E::Corrupt(_) => ApiError::server(&error),
        }
    }
}

impl From<TaskDefinitionOpError> for ApiError {
    fn from(error: TaskDefinitionOpError) -> Self {
        use TaskDefinitionOpError as E;
        match &error {
            E::Invalid(_) | E::NotFound(_) | E::Reference(_) | E::RevisionRequired(_) => {
                ApiError::new(ErrorCode::ClientException, error.to_string())
            }
            E::Tags(_) | E::DeleteCount(_) | E::Page(_) => invalid(&error),
            E::Contended => ApiError::new(ErrorCode::ClientException, error.to_string()),
            E::Store(_) | E::Corrupt(_) => ApiError::server(&error),
        }
    }
}

impl From<TaggingError> for ApiError {
    fn from(error: TaggingError) -> Self {
        use TaggingError as E;
        match error {
            E::Arn(_) | E::OtherScope(_) | E::Tags(_) => invalid(&error),
            E::Cluster(inner) => inner.into(),
            E::TaskDefinition(TaskDefinitionOpError::NotFound(arn)) => ApiError::new(
                ErrorCode::ResourceNotFoundException,
                format!("The specified resource wasn't found: {arn}"),
            ),
            E::TaskDefinition(inner) => inner.into(),
            E::Task(inner) => inner.into(),
        }
    }
}

impl From<TaskError> for ApiError {
    fn from(error: TaskError) -> Self {
        use TaskError as E;
        match error {
            E::Cluster(inner) => inner.into(),
            E::TaskDefinition(inner) => inner.into(),
            E::InactiveDefinition(_) => {
                ApiError::new(ErrorCode::ClientException, error.to_string())
            }
            E::NotFargateCompatible | E::Invalid(_) | E::Tags(_) | E::Page(_) | E::NotFound(_) => {
                invalid(&error)
            }
            E::Contended => ApiError::new(ErrorCode::UpdateInProgressException, error.to_string()),
            E::Store(_) | E::Corrupt(_) | E::Random(_) => ApiError::server(&error),
        }
    }
}

/// A Query-protocol error: a code (EC2's are dotted: `InvalidGroup.NotFound`), a message and
/// an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The service's code.
    pub code: &'static str,
    /// What the user should know.
    pub message: String,
    /// 400 for the caller's mistakes, 500 for berth's.
    pub status: StatusCode,
}

impl QueryError {
    /// A client error.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    /// A required parameter is missing.
    pub fn missing(name: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    /// A parameter's value is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", message)
    }

    /// What every Query service says of an action it does not have.
    pub fn invalid_action(action: &str) -> Self {
        Self::new(
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )
    }

    /// Whether the caller is at fault (the Query protocol's `Sender`).
    pub fn is_sender_fault(&self) -> bool {
        self.status.is_client_error()
    }
}

impl From<Ec2Error> for QueryError {
    fn from(error: Ec2Error) -> Self {
        let Ec2Error::Client { code, message } = error else {
            let logged = ApiError::server(&error);
            return Self {
                code: "InternalError",
                message: logged.message,
                status: StatusCode::INTERNAL_SERVER_ERROR,
            };
        };
        let code = match code {
            Ec2Code::InvalidParameterValue => "InvalidParameterValue",
            Ec2Code::InvalidParameterCombination => "InvalidParameterCombination",
            Ec2Code::MissingParameter => "MissingParameter",
            Ec2Code::VpcNotFound => "InvalidVpcID.NotFound",
            Ec2Code::SubnetNotFound => "InvalidSubnetID.NotFound",
            Ec2Code::GroupNotFound => "InvalidGroup.NotFound",
            Ec2Code::GroupDuplicate => "InvalidGroup.Duplicate",
            Ec2Code::GroupReserved => "InvalidGroup.Reserved",
            Ec2Code::PermissionDuplicate => "InvalidPermission.Duplicate",
            Ec2Code::PermissionNotFound => "InvalidPermission.NotFound",
            Ec2Code::RuleIdNotFound => "InvalidSecurityGroupRuleId.NotFound",
            Ec2Code::NetworkInterfaceNotFound => "InvalidNetworkInterfaceID.NotFound",
            Ec2Code::SubnetConflict => "InvalidSubnet.Conflict",
            Ec2Code::SubnetRange => "InvalidSubnet.Range",
            Ec2Code::VpcRange => "InvalidVpc.Range",
            Ec2Code::DependencyViolation => "DependencyViolation",
            Ec2Code::CannotDelete => "CannotDelete",
        };
        Self::new(code, message)
    }
}

/// IAM's (and STS's) errors, with the statuses IAM gives them.
impl From<IamError> for QueryError {
    fn from(error: IamError) -> Self {
        let (code, status) = match &error {
            IamError::NoSuchEntity(_) => ("NoSuchEntity", StatusCode::NOT_FOUND),
            IamError::EntityAlreadyExists(_) => ("EntityAlreadyExists", StatusCode::CONFLICT),
            IamError::DeleteConflict(_) => ("DeleteConflict", StatusCode::CONFLICT),
            IamError::LimitExceeded(_) => ("LimitExceeded", StatusCode::CONFLICT),
            IamError::InvalidInput(_) => ("InvalidInput", StatusCode::BAD_REQUEST),
            IamError::MalformedPolicyDocument(_) => {
                ("MalformedPolicyDocument", StatusCode::BAD_REQUEST)
            }
            IamError::Contended => ("ConcurrentModification", StatusCode::CONFLICT),
            IamError::Store(_) | IamError::Corrupt(_) | IamError::Random(_) | IamError::Seal(_) => {
                let logged = ApiError::server(&error);
                return Self {
                    code: "ServiceFailure",
                    message: logged.message,
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                };
            }
        };
        Self {
            code,
            message: error.to_string(),
            status,
        }
    }
}

/// Errors met before a Query action runs (authentication, authorization, the body) in the
/// words of EC2's Query flavour; [`query_error`] gives IAM's and STS's. A body too large is not
/// EC2's `RequestLimitExceeded`: botocore reads that as throttling and would send the same
/// body three more times.
impl From<ApiError> for QueryError {
    fn from(error: ApiError) -> Self {
        query_error(error, true)
    }
}

/// `error` in the Query protocol, as EC2 names it (`ec2`) or as the Query-flavoured services
/// do: EC2 answers an unknown key with `AuthFailure` and a refused action with
/// `UnauthorizedOperation`, IAM and STS with `InvalidClientTokenId` and `AccessDenied`.
pub fn query_error(error: ApiError, ec2: bool) -> QueryError {
    let code = match error.code {
        ErrorCode::MissingAuthenticationTokenException => "MissingAuthenticationToken",
        ErrorCode::IncompleteSignatureException => "IncompleteSignature",
        ErrorCode::UnrecognizedClientException if ec2 => "AuthFailure",
        ErrorCode::UnrecognizedClientException => "InvalidClientTokenId",
        ErrorCode::InvalidSignatureException => "SignatureDoesNotMatch",
        ErrorCode::SignatureExpired if ec2 => "RequestExpired",
        ErrorCode::SignatureExpired => "SignatureDoesNotMatch",
        ErrorCode::ExpiredTokenException if ec2 => "RequestExpired",
        ErrorCode::ExpiredTokenException => "ExpiredToken",
        ErrorCode::AccessDeniedException if ec2 => "UnauthorizedOperation",
        ErrorCode::AccessDeniedException => "AccessDenied",
        ErrorCode::RequestEntityTooLargeException => "RequestEntityTooLarge",
        ErrorCode::SerializationException => "IncompleteBody",
        ErrorCode::ServerException => "InternalError",
        _ => "InvalidParameterValue",
    };
    QueryError {
        code,
        message: error.message,
        status: error.code.status(),
    }
}
