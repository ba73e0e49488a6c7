/// Telnet (RFC 854) as an RFC 2217 client speaks it, without I/O: `decode` turns what the
/// server sent into data bytes and notes the answers its negotiation needs; `encode`
/// escapes data for the server; `takeReplies` hands over what is to be sent. It asks for
/// binary mode both ways and suppress-go-ahead, offers COM-PORT-OPTION, and once the
/// server takes that, sets the port to BAUD, 8 data bits, no parity, one stop bit, no
/// flow control. Other options are refused; answers go out only where the state changes
/// (no negotiation loops); subnegotiations from the server (line and modem state
/// notifications) are read and dropped.
public struct TelnetCodec {
    public enum Byte {
        public static let se: UInt8 = 240, sb: UInt8 = 250, will: UInt8 = 251, wont: UInt8 = 252, doo: UInt8 = 253,
                          dont: UInt8 = 254, iac: UInt8 = 255
        public static let cr: UInt8 = 13
    }

    public enum Option {
        public static let binary: UInt8 = 0, suppressGoAhead: UInt8 = 3, comPort: UInt8 = 44
    }

    /// COM-PORT-OPTION commands, client to server (RFC 2217 section 3).
    enum ComPort {
        static let setBaudRate: UInt8 = 1, setDataSize: UInt8 = 2, setParity: UInt8 = 3, setStopSize: UInt8 = 4,
                   setControl: UInt8 = 5
    }

    private enum State {
        case data, iac, negotiation(UInt8), subnegotiation, subnegotiationIAC
    }

    private let baud: Int
    private var state = State.data
    /// Options this side has said WILL for, and those the server agreed to (DO); options
    /// this side has said DO for, and those the server agreed to (WILL).
    private var weOffered: Set<UInt8> = []
    private var ours: Set<UInt8> = []
    private var weAsked: Set<UInt8> = []
    private var theirs: Set<UInt8> = []
    private var portConfigured = false
    /// After a CR from a server not in binary mode: a NUL that follows is padding.
    private var afterCR = false
    private var replies: [UInt8] = []

    /// Starts the negotiation (its opening is in `takeReplies`).
    public init(baud: Int) {
        self.baud = baud
        for option in [Option.binary, Option.suppressGoAhead, Option.comPort] { offer(Byte.will, option) }
        for option in [Option.binary, Option.suppressGoAhead] { offer(Byte.doo, option) }
    }

    /// Whether the server sends, and takes, binary data (no CR NUL).
    public var isBinary: (received: Bool, sent: Bool) { (theirs.contains(Option.binary), ours.contains(Option.binary)) }

    /// What is to be sent for the negotiation so far.
    public mutating func takeReplies() -> [UInt8] {
        defer { replies.removeAll() }
        return replies
    }

    /// The data bytes in `input`, written to `output` (which must hold input.count bytes);
    /// returns their count.
    public mutating func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        precondition(output.count >= input.count)
        var count = 0
        for byte in input {
            if let data = take(byte) {
                output[count] = data
                count += 1
            }
        }
        return count
    }

    /// `data` as the server must receive it: 255 doubled, and a CR followed by NUL while
    /// the server has not agreed to binary mode.
    public func encode(_ data: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        let binary = ours.contains(Option.binary)
        for byte in data {
            output.append(byte)
            if byte == Byte.iac { output.append(Byte.iac) }
            if byte == Byte.cr && !binary { output.append(0) }
        }
    }

    /// One byte from the server: the data byte it stands for, if any.
    private mutating func take(_ byte: UInt8) -> UInt8? {
        switch state {
        case .data:
            if byte == Byte.iac {
                state = .iac
                return nil
            }
            if afterCR {
                afterCR = false
                if byte == 0 { return nil }
            }
            afterCR = byte == Byte.cr && !theirs.contains(Option.binary)
            return byte
        case .iac:
            switch byte {
            case Byte.iac:
                state = .data
                return Byte.iac
            case Byte.will, Byte.wont, Byte.doo, Byte.dont:
                state = .negotiation(byte)
            case Byte.sb:
                state = .subnegotiation
            default:
                state = .data  // NOP, GA, and the like
            }
            return nil
        case .negotiation(let verb):
            state = .data
            answer(verb, byte)
            return nil
        case .subnegotiation:
            if byte == Byte.iac { state = .subnegotiationIAC }
            return nil
        case .subnegotiationIAC:
            state = byte == Byte.se ? .data : .subnegotiation
            return nil
        }
    }

    /// Says WILL or DO for `option` unless this side already has.
    private mutating func offer(_ verb: UInt8, _ option: UInt8) {
        if verb == Byte.will { guard weOffered.insert(option).inserted else { return } }
        if verb == Byte.doo { guard weAsked.insert(option).inserted else { return } }
        replies += [Byte.iac, verb, option]
    }

    /// The server's WILL, WONT, DO or DONT.
    private mutating func answer(_ verb: UInt8, _ option: UInt8) {
        switch verb {
        case Byte.doo:
            guard [Option.binary, Option.suppressGoAhead, Option.comPort].contains(option) else {
                replies += [Byte.iac, Byte.wont, option]
                return
            }
            offer(Byte.will, option)
            ours.insert(option)
            if option == Option.comPort { configurePort() }
        case Byte.dont:
            weOffered.remove(option)
            if ours.remove(option) != nil { replies += [Byte.iac, Byte.wont, option] }
        case Byte.will:
            guard [Option.binary, Option.suppressGoAhead].contains(option) else {
                replies += [Byte.iac, Byte.dont, option]
                return
            }
            offer(Byte.doo, option)
            theirs.insert(option)
        case Byte.wont:
            weAsked.remove(option)
            if theirs.remove(option) != nil { replies += [Byte.iac, Byte.dont, option] }
        default:
            break
        }
    }

    /// The line settings, once the server has taken COM-PORT-OPTION.
    private mutating func configurePort() {
        guard !portConfigured else { return }
        portConfigured = true
        let rate = UInt32(clamping: baud)
        comPort(ComPort.setBaudRate, [UInt8(rate >> 24), UInt8(rate >> 16 & 0xff), UInt8(rate >> 8 & 0xff), UInt8(rate & 0xff)])
        comPort(ComPort.setDataSize, [8])
        comPort(ComPort.setParity, [1])  // none
        comPort(ComPort.setStopSize, [1])  // one bit
        comPort(ComPort.setControl, [1])  // no flow control
    }

    private mutating func comPort(_ command: UInt8, _ value: [UInt8]) {
        replies += [Byte.iac, Byte.sb, Option.comPort, command]
        for byte in value {
            replies.append(byte)
            if byte == Byte.iac { replies.append(Byte.iac) }
        }
        replies += [Byte.iac, Byte.se]
    }
}
