// The signaling protocol, v1 (docs/signaling.md): a thin client over one WebSocket.

export const PROTOCOL_VERSION = 1;

// Close codes after which reconnecting cannot help (the user must act).
// 4410: the tutor ended the lesson (docs/signaling.md): nothing to rejoin.
export const FINAL_CLOSE_CODES = new Set([1000, 4401, 4404, 4409, 4410, 4429]);

export class Signaling extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
  }

  // Open the socket and send join; resolves with the `joined` message. With the
  // resume token of an earlier `joined`, the server gives back the seat it held.
  // Gives up after `timeoutMs` without `joined` (code "timeout"): a socket opened
  // while the link is down waits on TCP's retries, which space out to 16 s and
  // more, so a rejoin would come long after the link is back.
  connect(sessionId, token, resumeToken = null, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let joined = false;
      const timer = setTimeout(() => {
        if (joined) return;
        reject(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: "timeout" }));
        ws.onclose = null;
        ws.close();
      }, timeoutMs);
      ws.onopen = () => this.send({ type: "join", session_id: sessionId, token, ...(resumeToken ? { resume_token: resumeToken } : {}) });
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (!joined) {
          if (message.type === "joined") {
            joined = true;
            clearTimeout(timer);
            resolve(message);
          } else if (message.type === "error") {
            reject(Object.assign(new Error(message.message), { code: message.code }));
          }
          return;
        }
        this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
      };
      ws.onclose = (event) => {
        clearTimeout(timer);
        if (!joined) reject(Object.assign(new Error(event.reason || "connection closed"), { code: event.code }));
        this.dispatchEvent(new CustomEvent("close", { detail: { code: event.code, reason: event.reason } }));
      };
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...message }));
    }
  }

  close(code = 1000) {
    if (this.ws) this.ws.close(code);
  }
}
