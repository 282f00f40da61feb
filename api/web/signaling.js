// The signaling protocol, v1 (docs/signaling.md): a thin client over one WebSocket.

export const PROTOCOL_VERSION = 1;

// Close codes after which reconnecting cannot help (the user must act).
export const FINAL_CLOSE_CODES = new Set([1000, 4401, 4404, 4409, 4429]);

export class Signaling extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
  }

  // Open the socket and send join; resolves with the `joined` message. With the
  // resume token of an earlier `joined`, the server gives back the seat it held.
  connect(sessionId, token, resumeToken = null) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let joined = false;
      ws.onopen = () => this.send({ type: "join", session_id: sessionId, token, ...(resumeToken ? { resume_token: resumeToken } : {}) });
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (!joined) {
          if (message.type === "joined") {
            joined = true;
            resolve(message);
          } else if (message.type === "error") {
            reject(Object.assign(new Error(message.message), { code: message.code }));
          }
          return;
        }
        this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
      };
      ws.onclose = (event) => {
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
