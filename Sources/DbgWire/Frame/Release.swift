/// The release both programs are built from; dbgd and dbg report it.
public enum Release {
    public static let number = "0.1.0"
}
