import CSys

/// A serial line as agent and client both open it: raw (8N1, no echo, no line editing,
/// no flow control, the modem lines ignored), non-blocking, close-on-exec, at one of the
/// standard rates.
public enum SerialPort {
    /// The standard rates, in baud, with their termios speed codes.
    private static let rates: [(baud: Int, speed: speed_t)] = [
        (1200, CSYS_B1200), (2400, CSYS_B2400), (4800, CSYS_B4800), (9600, CSYS_B9600), (19200, CSYS_B19200),
        (38400, CSYS_B38400), (57600, CSYS_B57600), (115_200, CSYS_B115200), (230_400, CSYS_B230400),
        (460_800, CSYS_B460800), (500_000, CSYS_B500000), (576_000, CSYS_B576000), (921_600, CSYS_B921600),
        (1_000_000, CSYS_B1000000), (1_152_000, CSYS_B1152000), (1_500_000, CSYS_B1500000),
        (2_000_000, CSYS_B2000000), (2_500_000, CSYS_B2500000), (3_000_000, CSYS_B3000000),
        (3_500_000, CSYS_B3500000), (4_000_000, CSYS_B4000000),
    ]

    public static func isStandard(baud: Int) -> Bool { speed(baud) != nil }

    private static func speed(_ baud: Int) -> speed_t? {
        for rate in rates where rate.baud == baud { return rate.speed }
        return nil
    }

    /// Opens `path` and sets it up; the descriptor, or the errno (EINVAL: not a standard
    /// rate).
    public static func open(_ path: String, baud: Int) throws(SystemError) -> Int32 {
        guard let speed = speed(baud) else { throw SystemError(CSYS_EINVAL) }
        let fd = path.withCString { csys_open($0, CSYS_O_RDWR_NOCTTY_NONBLOCK_CLOEXEC) }
        guard fd >= 0 else { throw .current }
        var settings = termios()
        guard tcgetattr(fd, &settings) == 0 else { throw closing(fd) }
        cfmakeraw(&settings)
        settings.c_iflag &= ~(CSYS_IXON | CSYS_IXOFF | CSYS_IXANY)
        settings.c_cflag &= ~(CSYS_CSTOPB | CSYS_PARENB | CSYS_CRTSCTS | CSYS_HUPCL)
        settings.c_cflag |= CSYS_CLOCAL | CSYS_CREAD | CSYS_CS8
        withUnsafeMutableBytes(of: &settings.c_cc) { controls in
            controls[Int(CSYS_VMIN)] = 1  // a read returns once a byte is there (the fd is non-blocking anyway)
            controls[Int(CSYS_VTIME)] = 0
        }
        guard cfsetispeed(&settings, speed) == 0, cfsetospeed(&settings, speed) == 0,
              tcsetattr(fd, CSYS_TCSANOW, &settings) == 0 else { throw closing(fd) }
        _ = tcflush(fd, CSYS_TCIOFLUSH)
        return fd
    }

    /// The errno of the call that failed, after closing `fd`.
    private static func closing(_ fd: Int32) -> SystemError {
        let error = SystemError.current
        _ = close(fd)
        return error
    }
}
