import DbgWire

/// A call's params, by name (the seed's methods take objects): typed accessors whose
/// failures are Invalid params naming the member. Members a method does not know are
/// refused too (`only`), so a misspelt name is not silently ignored.
struct AppParams {
    private let members: [JSONMember]

    init(_ params: JSONValue?, method: String) throws(JSONRPC.Failure) {
        switch params {
        case nil: members = []
        case .object(let given)?: members = given
        case .array(let given)? where given.isEmpty: members = []
        default: throw AppFailure.invalidParams("params: " + method + " takes an object of named members")
        }
    }

    subscript(_ key: String) -> JSONValue? {
        let wanted = Array(key.utf8)
        return members.first { $0.key == wanted }?.value
    }

    /// Refuses members other than `known`.
    func only(_ known: [String]) throws(JSONRPC.Failure) {
        for member in members where !known.contains(where: { Array($0.utf8) == member.key }) {
            throw AppFailure.invalidParams("unknown member \"" + String(decoding: member.key, as: UTF8.self) + "\"")
        }
    }

    func none() throws(JSONRPC.Failure) { try only([]) }

    /// A required string.
    func bytes(_ key: String) throws(JSONRPC.Failure) -> [UInt8] {
        guard let value = try optionalString(key) else { throw AppFailure.invalidParams(key + ": required, a string") }
        return value
    }

    /// A string, or nil when absent or null.
    func optionalString(_ key: String) throws(JSONRPC.Failure) -> [UInt8]? {
        switch self[key] {
        case nil, .null?: return nil
        case .string(let bytes)?: return bytes
        default: throw AppFailure.invalidParams(key + ": expected a string or null")
        }
    }

    func optionalBool(_ key: String) throws(JSONRPC.Failure) -> Bool? {
        switch self[key] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        default: throw AppFailure.invalidParams(key + ": expected true or false")
        }
    }

    /// An integer within `range`, or nil when absent or null.
    func optionalInteger(_ key: String, in range: ClosedRange<Int64>) throws(JSONRPC.Failure) -> Int64? {
        switch self[key] {
        case nil, .null?: return nil
        case .number(let number)?:
            guard let value = number.integer, range.contains(value) else {
                throw AppFailure.invalidParams(key + ": expected an integer from " + String(range.lowerBound) + " to "
                    + String(range.upperBound))
            }
            return value
        default:
            throw AppFailure.invalidParams(key + ": expected an integer or null")
        }
    }

    /// `timeout`: milliseconds, or nil for --app-timeout.
    func timeoutMs() throws(JSONRPC.Failure) -> Int64? {
        try optionalInteger("timeout", in: 1...AppConfig.maxTimeoutMs)
    }
}

/// The runtime's own error codes (JSON-RPC leaves -32000 to -32099 to the server) and
/// how a ServiceError becomes one.
enum AppFailure {
    /// The agent refused or could not do it; data: {code, errno} (the dbg error code's name).
    static let refused: Int64 = -32000
    /// The procedure ran and failed; data: {exitCode, stdout, stderr, stdoutTruncated, stderrTruncated}.
    static let failed: Int64 = -32001

    static func invalidParams(_ why: String) -> JSONRPC.Failure {
        JSONRPC.Failure(code: JSONRPC.invalidParams, message: "Invalid params: " + why)
    }

    static func data(_ error: ServiceError) -> JSONValue {
        .object([JSONMember("code", .string(error.code.name)), JSONMember("errno", .integer(Int64(error.errno)))])
    }

    static func refusal(_ error: ServiceError) -> JSONRPC.Failure {
        JSONRPC.Failure(code: refused, message: error.code.name + ": " + error.message, data: data(error))
    }

    /// Why a caller is turned away, on every front end.
    static let notAllowed = ServiceError(.denied, "only root and members of the runtime group (--rpc-group) may call "
        + "the application runtime")

    /// The answer to a whole message refused before any call of it ran.
    static func refusingMessage(_ error: ServiceError) -> [UInt8] {
        JSONWriter.encode(JSONRPC.response(id: .null, .failure(refusal(error))))
    }

    /// `body`'s ServiceError as a refusal.
    static func refusing<R>(_ body: () throws(ServiceError) -> R) throws(JSONRPC.Failure) -> R {
        do throws(ServiceError) {
            return try body()
        } catch {
            throw refusal(error)
        }
    }
}
