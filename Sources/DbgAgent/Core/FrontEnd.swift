/// What the service core needs from a front end (the Sutra connections; a JSON-RPC
/// socket, an HTTP/WebSocket listener): where to hand news of the work it started.
/// A front end registers itself with `ServiceCore.register` and puts the number it gets
/// in the `ConnectionRef`s of its connections.
protocol FrontEnd: AnyObject {
    /// Work of `connection` finished: its completions wait in the core's queue. Called
    /// on the loop after the event that finished it; the front end takes them
    /// (`CompletionQueue.first(of:)`) as its outbox has room.
    func completionsReady(for connection: ConnectionRef)

    /// A shell of `connection` has output to relay, or room for waiting input.
    func shellReady(_ shell: Int, of connection: ConnectionRef, _ readiness: Readiness)

    /// A streaming process of `connection` has output to relay (or its end), or room
    /// for waiting input.
    func streamReady(_ stream: Int, of connection: ConnectionRef)

    /// A forwarded stream of `connection` was accepted, finished connecting, has bytes
    /// to relay (or its end), or room for waiting input.
    func forwardReady(_ stream: Int, of connection: ConnectionRef)
}

extension FrontEnd {
    /// A front end without forwarding (yet) needs nothing here: none of its connections
    /// can have opened a stream.
    func forwardReady(_ stream: Int, of connection: ConnectionRef) {}
}
