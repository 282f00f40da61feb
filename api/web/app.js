// The Liveclass browser client: preview, join, tiles, controls, quality, rejoin.
// Plain modules, no build step. State is exposed on window.liveclass for tests.
import { FINAL_CLOSE_CODES, Signaling } from "./signaling.js";

const $ = (id) => document.getElementById(id);
const sessionId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const state = {
  sessionId,
  token: new URLSearchParams(location.search).get("token") || sessionStorage.getItem(`liveclass:${sessionId}`),
  stream: null,
  pc: null,
  signaling: null,
  me: null,
  participants: new Map(), // participant_id -> {info, tile, stream}
  mids: new Map(), // mid -> participant_id
  sources: new Map(), // mid -> microphone, camera or screen
  screens: new Map(), // participant_id -> MediaStream of the screen they share
  screenTrack: null, // our own shared screen, while sharing
  screenMid: null, // our screen's slot on this connection, once the SFU offered it
  captionsOn: false, // live captions asked for (sent again after a rejoin)
  activeSpeaker: null, // participant_id the SFU names as speaking (may be ours), or null
  quality: new Map(), // participant_id -> the SFU's rating of their connection (ours too)
  leaving: false,
  over: false, // the tutor ended the lesson (4410): no rejoin, ever, on this page
  rejoinDelay: 0, // the first try after a drop is at once; then every 1 s, then 2 s
  // From our last `joined`: a rejoin within the server's grace window gets our seat back.
  resumeToken: sessionStorage.getItem(`liveclass:resume:${sessionId}`),
  timers: [],
};
window.liveclass = state;

function say(text) {
  $("message").textContent = text;
}

// --- login (when the link carried no token) ----------------------------------

async function login(event) {
  event.preventDefault();
  say("");
  const post = (path, body, token) =>
    fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }).then(async (r) => {
      const data = await r.json();
      if (!r.ok) throw new Error(data.error ? data.error.message : r.statusText);
      return data;
    });
  try {
    const auth = await post("/api/v1/auth/login", { email: $("email").value, password: $("password").value });
    const grant = await post(`/api/v1/sessions/${encodeURIComponent(sessionId)}/join-token`, null, auth.access_token);
    state.token = grant.token;
    sessionStorage.setItem(`liveclass:${sessionId}`, grant.token);
    await showLobby();
  } catch (error) {
    say(error.message);
  }
}

// --- lobby: preview and device choice ----------------------------------------

async function openMedia() {
  const constraints = {
    audio: $("microphone").value ? { deviceId: { exact: $("microphone").value } } : true,
    video: $("camera").value ? { deviceId: { exact: $("camera").value } } : true,
  };
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = await navigator.mediaDevices.getUserMedia(constraints);
  $("preview").srcObject = state.stream;
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [kind, select] of [["videoinput", $("camera")], ["audioinput", $("microphone")]]) {
    const current = state.stream && state.stream.getTracks().find((t) => (t.kind === "video") === (kind === "videoinput"));
    const currentId = current && current.getSettings().deviceId;
    select.replaceChildren(
      ...devices.filter((d) => d.kind === kind).map((d, i) => {
        const option = new Option(d.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${i + 1}`, d.deviceId);
        option.selected = d.deviceId === currentId;
        return option;
      }),
    );
  }
}

// --- the lesson's header: what, with whom, when, and a clock ------------------------

async function loadLesson() {
  const response = await fetch(`/api/v1/sessions/${encodeURIComponent(sessionId)}/lesson`, {
    headers: { accept: "application/json", "x-join-token": state.token },
  });
  if (!response.ok) return;
  const lesson = await response.json();
  state.lesson = lesson;
  const others = lesson.role === "tutor" ? lesson.student_names.join(", ") : lesson.tutor_name;
  const title = others ? `${lesson.subject} with ${others}` : lesson.subject;
  $("lesson-title").textContent = title;
  document.title = `${title} · Liveclass`;
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  $("lesson-when").textContent = `${new Date(lesson.scheduled_start).toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" })}, ${time(lesson.scheduled_start)}–${time(lesson.scheduled_end)}`;
  tick();
  clearInterval(state.clock);
  state.clock = setInterval(tick, 1000);
  $("end").hidden = lesson.role !== "tutor";
}

// The tutor ends the lesson for everyone: a second press within 5 s confirms (a stray
// press must not end it, and a dialog would take the keyboard away).
async function endLesson() {
  const button = $("end");
  if (!state.endArmed) {
    state.endArmed = true;
    button.textContent = "Press again to end the lesson for everyone";
    clearTimeout(state.endTimer);
    state.endTimer = setTimeout(() => {
      state.endArmed = false;
      button.textContent = "End the lesson for everyone";
    }, 5000);
    return;
  }
  clearTimeout(state.endTimer);
  state.endArmed = false;
  button.disabled = true;
  state.ended = true; // the room closes before this answer arrives
  const response = await fetch(`/api/v1/sessions/${encodeURIComponent(sessionId)}/lesson/end`, {
    method: "POST",
    headers: { accept: "application/json", "x-join-token": state.token },
  });
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    say(`The lesson did not end: ${(data.error && data.error.message) || response.statusText}`);
    state.ended = false;
    button.disabled = false;
    button.textContent = "End the lesson for everyone";
  }
}

// The time now, and how far into the lesson (or how long until it starts).
function tick() {
  const lesson = state.lesson;
  if (!lesson) return;
  const now = Date.now();
  const start = Date.parse(lesson.scheduled_start);
  const end = Date.parse(lesson.scheduled_end);
  const minutes = (ms) => Math.max(0, Math.round(ms / 60000));
  const where = now < start
    ? `starts in ${minutes(start - now)} min`
    : now < end ? `${minutes(now - start)} min in, ${minutes(end - now)} min left` : "past its end";
  $("clock").textContent = `${new Date(now).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })} · ${where}`;
}

// Who came and went, newest last, the last five kept: read out by screen readers.
function notice(text) {
  const list = $("notices");
  list.append(Object.assign(document.createElement("li"), { textContent: text }));
  while (list.children.length > 5) list.firstElementChild.remove();
}

function nameOf(participantId) {
  const entry = state.participants.get(participantId);
  return (entry && entry.info.name) || "Someone";
}

// --- chat: through signaling, kept with the session's record --------------------------

function showChat(message) {
  const log = $("chat-log");
  if (log.querySelector(`[data-id="${CSS.escape(message.id)}"]`)) return; // seen before a rejoin
  const mine = state.me && message.participant_id === state.me.participant_id;
  const time = new Date(message.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const li = document.createElement("li");
  li.dataset.id = message.id;
  li.className = mine ? "mine" : "";
  const who = document.createElement("strong");
  who.textContent = `${mine ? "You" : message.name || "Someone"} (${time}): `;
  li.append(who, document.createTextNode(message.text)); // text, never markup
  log.append(li);
  log.scrollTop = log.scrollHeight;
}

function sendChat(event) {
  event.preventDefault();
  const input = $("chat-text");
  const text = input.value.trim();
  if (!text || !state.signaling) return;
  state.signaling.send({ type: "chat", text });
  input.value = "";
  input.focus();
}

// --- live captions: the room's speech, transcribed while the lesson runs ----------------
// Only those whose speech may be transcribed are captioned (the tutor; a student with
// their guardian's consent). On or off per page; kept on across a rejoin.

const CAPTION_LINES = 3;

function showCaption(caption) {
  const list = $("caption-lines");
  const li = document.createElement("li");
  const who = document.createElement("strong");
  who.textContent = `${caption.name || "Someone"}: `;
  li.append(who, document.createTextNode(caption.text)); // text, never markup
  list.append(li);
  while (list.children.length > CAPTION_LINES) list.firstElementChild.remove();
}

function setCaptions(on) {
  state.captionsOn = on;
  const button = $("captions-toggle");
  button.setAttribute("aria-pressed", String(on));
  button.textContent = on ? "Turn captions off" : "Turn captions on";
  $("captions").hidden = !on;
  if (!on) $("caption-lines").replaceChildren();
  if (state.signaling) state.signaling.send({ type: "captions", on });
}

// A student waits for the tutor: said until one is in the room.
function showWaiting() {
  const tutorHere = [...state.participants.values()].some((p) => p.info.role === "tutor");
  $("waiting").hidden = !state.me || state.me.role !== "student" || tutorHere;
}

async function showLobby() {
  loadLesson().catch(() => {});
  $("login").hidden = true;
  $("lobby").hidden = false;
  try {
    await openMedia();
    await listDevices();
    $("join").disabled = false;
    $("join").focus();
  } catch (error) {
    say(`Camera or microphone unavailable: ${error.message}. Allow access and reload.`);
  }
}

// --- the call -------------------------------------------------------------------

function tileFor(participantId, info) {
  let entry = state.participants.get(participantId);
  if (!entry) {
    const li = document.createElement("li");
    li.dataset.participant = participantId;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound plays through the <audio> element
    const audio = document.createElement("audio");
    audio.autoplay = true;
    const name = document.createElement("span");
    name.className = "name";
    const notice = document.createElement("span");
    notice.className = "notice";
    notice.setAttribute("role", "status");
    notice.hidden = true;
    const presence = document.createElement("span");
    presence.className = "presence";
    presence.setAttribute("role", "status");
    presence.hidden = true;
    const quality = document.createElement("span");
    quality.className = "quality";
    quality.hidden = true;
    li.append(video, audio, name, notice, presence, quality);
    $("tiles").append(li);
    entry = { info: info || { participant_id: participantId, name: "", role: "" }, li, video, audio, name, notice, presence, quality, stream: new MediaStream() };
    video.srcObject = entry.stream;
    audio.srcObject = entry.stream;
    state.participants.set(participantId, entry);
  }
  if (info) entry.info = info;
  entry.name.textContent = `${entry.info.name || "Participant"}${entry.info.role ? ` (${entry.info.role})` : ""}`;
  entry.name.classList.toggle("muted", Boolean(entry.info.audio_muted));
  entry.li.classList.toggle("active-speaker", participantId === state.activeSpeaker);
  entry.video.setAttribute("aria-label", `Video of ${entry.info.name || "a participant"}`);
  return entry;
}

// The SFU's `active_speaker`: at most one tile is highlighted, and only on change.
// The green "speaking" border from getStats stays as a quick per-tile meter.
function showActiveSpeaker(participantId) {
  state.activeSpeaker = participantId;
  for (const [id, entry] of state.participants) entry.li.classList.toggle("active-speaker", id === participantId);
}

function removeTile(participantId) {
  const entry = state.participants.get(participantId);
  if (entry) {
    entry.li.remove();
    state.participants.delete(participantId);
  }
  for (const [mid, owner] of state.mids) if (owner === participantId) state.mids.delete(mid);
  showScreen(participantId, null);
}

// --- screen sharing: a second video, forwarded like the camera -------------------------

// Someone's shared screen, or none (stream null). The newest share is shown large.
function showScreen(participantId, stream) {
  if (stream) state.screens.set(participantId, stream);
  else state.screens.delete(participantId);
  const [sharer, shown] = [...state.screens].pop() || [];
  $("screen").hidden = !shown;
  $("screen-video").srcObject = shown || null;
  $("screen-caption").textContent = shown ? `${nameOf(sharer)}'s screen` : "";
  $("screen-video").setAttribute("aria-label", shown ? `Screen shared by ${nameOf(sharer)}` : "Shared screen");
}

// A received track of `mid` into its place: the sharer's screen, or the tile's stream.
function placeTrack(mid, track) {
  const participantId = state.mids.get(mid);
  const entry = mediaTile(participantId);
  if (!entry) return;
  if (state.sources.get(mid) === "screen") {
    const stream = state.screens.get(participantId) || new MediaStream();
    if (!stream.getTracks().includes(track)) {
      stream.getTracks().forEach((t) => stream.removeTrack(t));
      stream.addTrack(track);
    }
    showScreen(participantId, stream);
    return;
  }
  if (!entry.stream.getTracks().includes(track)) {
    for (const old of entry.stream.getTracks().filter((t) => t.kind === track.kind)) entry.stream.removeTrack(old);
    entry.stream.addTrack(track);
  }
}

function screenSender() {
  const transceiver = state.pc && state.pc.getTransceivers().find((tr) => tr.mid === state.screenMid);
  return transceiver && transceiver.sender;
}

async function startShare() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch (error) {
    if (error.name !== "NotAllowedError") say(`Cannot share your screen: ${error.message}`);
    return; // cancelled in the browser's picker: nothing to say
  }
  const track = stream.getVideoTracks()[0];
  track.contentHint = "detail"; // a worksheet's text stays sharp; motion may lose frames
  track.addEventListener("ended", () => stopShare()); // the browser's own "Stop sharing"
  state.screenTrack = track;
  showSharing(true);
  await shareOnConnection();
}

// Tell the SFU we share, on this connection: the first time it offers a slot, which
// acceptOffer fills; later the slot is there, and the track goes on it first.
async function shareOnConnection() {
  if (!state.screenTrack || !state.signaling) return;
  const sender = screenSender();
  if (sender) await sender.replaceTrack(state.screenTrack);
  state.signaling.send({ type: "screen", sharing: true });
}

async function stopShare() {
  const track = state.screenTrack;
  if (!track) return;
  state.screenTrack = null;
  track.stop();
  showSharing(false);
  const sender = screenSender();
  if (sender) await sender.replaceTrack(null);
  if (state.signaling) state.signaling.send({ type: "screen", sharing: false });
}

function showSharing(sharing) {
  $("share").setAttribute("aria-pressed", String(sharing));
  $("share").textContent = sharing ? "Stop sharing" : "Share screen";
  if (sharing) notice("You are sharing your screen");
}

// Media never creates a tile: only the roster (joined, participant.joined) does, and it
// arrives on the same socket before any offer carrying that participant's media. An offer
// still being applied when its publisher leaves would otherwise bring the tile back.
function mediaTile(participantId) {
  return participantId ? state.participants.get(participantId) : undefined;
}

function waitForCandidates(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);
  });
}

// Apply an SFU offer: remember which participant each mid carries, answer it,
// and re-home tracks whose slot now carries someone else.
async function acceptOffer(pc, signaling, offer) {
  for (const t of offer.tracks) {
    if (t.publish) continue;
    if (t.participant_id) state.mids.set(t.mid, t.participant_id);
    else state.mids.delete(t.mid);
    if (t.source) state.sources.set(t.mid, t.source);
    else state.sources.delete(t.mid);
  }
  await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
  const first = !state.published;
  if (first) {
    // The SFU's first offer has a receive slot per kind for our own media.
    for (const slot of offer.tracks.filter((t) => t.publish && t.source !== "screen")) {
      const transceiver = pc.getTransceivers().find((tr) => tr.mid === slot.mid);
      const track = state.stream.getTracks().find((t) => t.kind === slot.kind);
      if (!transceiver) continue;
      if (track) {
        transceiver.direction = "sendonly";
        await transceiver.sender.replaceTrack(track);
        transceiver.sender.setStreams(state.stream);
      } else {
        transceiver.direction = "inactive";
      }
    }
    state.published = true;
  }
  // Our screen's slot, offered after we asked to share: the track goes on it now.
  const screenSlot = offer.tracks.find((t) => t.publish && t.source === "screen");
  let newScreen = null;
  if (screenSlot && state.screenMid !== screenSlot.mid) {
    state.screenMid = screenSlot.mid;
    const transceiver = pc.getTransceivers().find((tr) => tr.mid === screenSlot.mid);
    if (transceiver) {
      transceiver.direction = "sendonly"; // kept: the next share needs no offer
      await transceiver.sender.replaceTrack(state.screenTrack);
      newScreen = transceiver.sender;
    }
  }
  await pc.setLocalDescription(await pc.createAnswer());
  if (first) await publishTemporalLayers(pc.getSenders().find((s) => s.track && s.track.kind === "video" && s.track !== state.screenTrack));
  if (newScreen) await publishTemporalLayers(newScreen);
  if (first) await waitForCandidates(pc, 2000);
  signaling.send({ type: "answer", sdp: pc.localDescription.sdp });
  for (const tr of pc.getTransceivers()) {
    if (tr.receiver.track && tr.currentDirection !== "inactive" && tr.mid !== state.screenMid) placeTrack(tr.mid, tr.receiver.track);
  }
}

// Our video in three temporal layers (VP8 L1T3): the SFU can then send a viewer on a
// poor link every other frame, or one in four, instead of pausing the video outright.
async function publishTemporalLayers(sender) {
  if (!sender) return;
  const params = sender.getParameters();
  if (!params.encodings || params.encodings.length === 0) return;
  params.encodings[0].scalabilityMode = "L1T3";
  try {
    await sender.setParameters(params);
  } catch (error) {
    console.warn("this browser cannot send temporal layers; viewers on poor links get paused video", error);
  }
}

// The SFU fits others' video to our link: tell the viewer what it did and why.
const VIDEO_NOTICES = {
  paused: "Video paused to keep audio clear",
  thinned: "Video reduced to fit your connection",
};

function showVideoNotice(participantId, kind) {
  const entry = state.participants.get(participantId);
  if (!entry) return;
  entry.li.dataset.video = kind;
  entry.notice.textContent = VIDEO_NOTICES[kind] || "";
  entry.notice.hidden = !VIDEO_NOTICES[kind];
}

// The SFU rates everyone's connection from what it measures of their links. A tile says
// when the other person's link is the trouble, so nobody blames their own.
const QUALITY_WORDS = { poor: "Poor connection", lost: "Connection lost" };

function showQuality(participants) {
  state.quality = new Map(participants.map((p) => [p.participant_id, p.quality]));
  for (const [id, entry] of state.participants) {
    const quality = state.quality.get(id);
    if (quality) entry.li.dataset.quality = quality;
    else delete entry.li.dataset.quality;
    entry.quality.textContent = QUALITY_WORDS[quality] || "";
    entry.quality.hidden = !QUALITY_WORDS[quality];
  }
}

// Someone's connection dropped and the SFU holds their seat: their tile says so until
// they are back (participant.reconnected) or gone (participant.left).
function showReconnecting(participantId, reconnecting) {
  const entry = state.participants.get(participantId);
  if (!entry) return;
  if (reconnecting) entry.li.dataset.presence = "reconnecting";
  else delete entry.li.dataset.presence;
  entry.presence.textContent = reconnecting ? "Reconnecting…" : "";
  entry.presence.hidden = !reconnecting;
}

async function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/rtc`;
  const signaling = new Signaling(url);
  state.signaling = signaling;
  const joined = await signaling.connect(sessionId, state.token, state.resumeToken);
  state.me = joined;
  state.rejoinDelay = 0;
  state.resumeToken = joined.resume_token;
  sessionStorage.setItem(`liveclass:resume:${sessionId}`, joined.resume_token);
  const pc = new RTCPeerConnection({ iceServers: joined.ice_servers, bundlePolicy: "max-bundle" });
  state.pc = pc;
  state.published = false;
  for (const p of joined.participants) tileFor(p.participant_id, p);
  for (const id of joined.reconnecting || []) showReconnecting(id, true);
  showWaiting();
  $("self-video").srcObject = state.stream;
  for (const message of joined.chat || []) showChat(message);
  $("captions-toggle").hidden = !joined.captions;
  if (joined.captions && state.captionsOn) signaling.send({ type: "captions", on: true });

  pc.ontrack = (event) => placeTrack(event.transceiver.mid, event.track);
  pc.onicecandidate = (event) => {
    if (event.candidate && pc.remoteDescription) {
      signaling.send({ type: "ice", candidate: event.candidate.candidate, sdp_mid: event.candidate.sdpMid, sdp_mline_index: event.candidate.sdpMLineIndex });
    }
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed" && state.pc === pc) scheduleRejoin("the media connection failed");
  };
  // ICE says "disconnected" after a few seconds without packets and "failed" only after
  // about 30 s: a link that stays quiet 2 s more is rejoined, into the same seat.
  pc.oniceconnectionstatechange = () => {
    clearTimeout(state.iceTimer);
    if (pc.iceConnectionState === "disconnected") {
      state.iceTimer = setTimeout(() => {
        if (state.pc === pc && pc.iceConnectionState !== "connected" && pc.iceConnectionState !== "completed") {
          scheduleRejoin("the media connection was lost");
        }
      }, 2000);
    }
  };

  signaling.addEventListener("answer", (e) => pc.setRemoteDescription({ type: "answer", sdp: e.detail.sdp }));
  signaling.addEventListener("offer", (e) => acceptOffer(pc, signaling, e.detail).catch((error) => {
    console.error("cannot apply the server's offer", error);
    say(`Media update failed: ${error.message}`);
  }));
  signaling.addEventListener("participant.joined", (e) => {
    tileFor(e.detail.participant.participant_id, e.detail.participant);
    notice(`${e.detail.participant.name || "Someone"} joined`);
    showWaiting();
  });
  signaling.addEventListener("participant.left", (e) => {
    notice(`${nameOf(e.detail.participant_id)} left`);
    removeTile(e.detail.participant_id);
    showWaiting();
  });
  signaling.addEventListener("participant.reconnecting", (e) => {
    showReconnecting(e.detail.participant_id, true);
    notice(`${nameOf(e.detail.participant_id)} is reconnecting…`);
  });
  signaling.addEventListener("participant.reconnected", (e) => {
    showReconnecting(e.detail.participant_id, false);
    notice(`${nameOf(e.detail.participant_id)} is back`);
  });
  signaling.addEventListener("mute", (e) => {
    const entry = state.participants.get(e.detail.participant_id);
    if (entry) {
      entry.info[`${e.detail.kind}_muted`] = e.detail.muted;
      tileFor(e.detail.participant_id);
    }
  });
  signaling.addEventListener("chat", (e) => showChat(e.detail));
  signaling.addEventListener("caption", (e) => showCaption(e.detail));
  signaling.addEventListener("track.published", (e) => {
    if (e.detail.source === "screen") notice(`${nameOf(e.detail.participant_id)} is sharing their screen`);
  });
  signaling.addEventListener("track.unpublished", (e) => {
    if (e.detail.source !== "screen") return;
    showScreen(e.detail.participant_id, null);
    notice(`${nameOf(e.detail.participant_id)} stopped sharing`);
  });
  signaling.addEventListener("active_speaker", (e) => showActiveSpeaker(e.detail.participant_id));
  signaling.addEventListener("connection_quality", (e) => showQuality(e.detail.participants));
  signaling.addEventListener("video_paused", (e) => showVideoNotice(e.detail.participant_id, "paused"));
  signaling.addEventListener("video_resumed", (e) => showVideoNotice(e.detail.participant_id, e.detail.frame_share < 1 ? "thinned" : ""));
  signaling.addEventListener("video_thinned", (e) => showVideoNotice(e.detail.participant_id, e.detail.frame_share < 1 ? "thinned" : ""));
  signaling.addEventListener("error", (e) => say(e.detail.message));
  signaling.addEventListener("close", (e) => {
    if (state.signaling !== signaling || state.leaving) return;
    if (FINAL_CLOSE_CODES.has(e.detail.code)) {
      const why = {
        4409: "You joined from another tab or device.",
        4410: state.ended ? "You ended the lesson." : "The lesson has ended.",
      }[e.detail.code];
      say(why || `Disconnected: ${e.detail.reason || e.detail.code}`);
      teardown();
      if (e.detail.code === 4410) {
        state.over = true; // a rejoin still under way (or one scheduled) must not offer one
        clearTimeout(state.rejoinTimer);
        state.rejoinTimer = null;
        $("call").hidden = true; // nothing to rejoin: the session is over
        clearInterval(state.clock);
      } else {
        offerRejoin();
      }
    } else {
      scheduleRejoin("the connection dropped");
    }
  });

  applyMute();
  // Back after a drop while sharing: the share goes on, on the new connection.
  if (state.screenTrack && state.screenTrack.readyState === "live") await shareOnConnection();
}

function applyMute() {
  for (const [kind, button] of [["audio", $("mute")], ["video", $("camera-toggle")]]) {
    const muted = button.getAttribute("aria-pressed") === "true";
    for (const t of state.stream.getTracks().filter((t) => t.kind === kind)) t.enabled = !muted;
    state.signaling && state.signaling.send({ type: "mute", kind, muted });
  }
}

function toggle(button, onLabel, offLabel) {
  const pressed = button.getAttribute("aria-pressed") !== "true";
  button.setAttribute("aria-pressed", String(pressed));
  button.textContent = pressed ? onLabel : offLabel;
  applyMute();
}

function teardown() {
  clearTimeout(state.iceTimer);
  if (state.pc) state.pc.close();
  state.pc = null;
  state.screenMid = null; // a new connection gets a new slot
  for (const id of [...state.participants.keys()]) removeTile(id);
  state.mids.clear();
  state.sources.clear();
  state.activeSpeaker = null;
  state.quality = new Map();
}

function scheduleRejoin(why) {
  if (state.leaving || state.over || state.rejoinTimer) return;
  const delay = state.rejoinDelay;
  // Short: a try is cheap (one socket, 5 s at most), and the seat is held only 15 s.
  state.rejoinDelay = Math.min(Math.max(state.rejoinDelay * 2, 1000), 2000);
  say(`Reconnecting… (${why})`);
  if (state.signaling) state.signaling.close(4000);
  teardown();
  state.rejoinTimer = setTimeout(async () => {
    state.rejoinTimer = null;
    try {
      await connect();
      say("");
    } catch (error) {
      if (FINAL_CLOSE_CODES.has(error.code) || String(error.code).startsWith("join_token")) {
        say(`Cannot rejoin: ${error.message}`);
        offerRejoin();
      } else {
        scheduleRejoin(error.message);
      }
    }
  }, delay);
}

// After a leave, or a drop the client cannot mend on its own: one button to come back.
function offerRejoin() {
  if (state.over) return; // the tutor ended the lesson: there is nothing to come back to
  $("rejoin").hidden = false;
  $("rejoin").focus();
}

async function rejoin() {
  $("rejoin").hidden = true;
  state.leaving = false;
  say("");
  try {
    if (!state.stream || state.stream.getTracks().every((t) => t.readyState === "ended")) await openMedia();
  } catch (error) {
    say(`Camera or microphone unavailable: ${error.message}. Allow access and reload.`);
    offerRejoin();
    return;
  }
  await join();
  if ($("call").hidden) offerRejoin();
}

async function join() {
  $("join").disabled = true;
  say("");
  try {
    await connect();
    $("lobby").hidden = true;
    $("call").hidden = false;
    $("mute").focus();
  } catch (error) {
    say(`Could not join: ${error.message}`);
    $("join").disabled = false;
  }
}

function leave() {
  state.leaving = true;
  if (state.signaling) {
    state.signaling.send({ type: "leave" });
    state.signaling.close(1000);
  }
  teardown();
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  if (state.screenTrack) state.screenTrack.stop();
  state.screenTrack = null;
  showSharing(false);
  $("call").hidden = true;
  $("quality").dataset.level = "none";
  $("quality").textContent = "Not connected";
  // A leave gives the seat up: the next join is a new one.
  state.resumeToken = null;
  sessionStorage.removeItem(`liveclass:resume:${sessionId}`);
  say("You left the session.");
  offerRejoin();
}

// --- connection quality and speaking indicators, from getStats() ------------------

async function poll() {
  const pc = state.pc;
  if (!pc) return;
  const stats = await pc.getStats();
  let lost = 0, received = 0, rtt = null;
  const levels = new Map();
  stats.forEach((s) => {
    if (s.type === "inbound-rtp") {
      lost += s.packetsLost || 0;
      received += s.packetsReceived || 0;
      if (s.kind === "audio" && s.trackIdentifier) levels.set(s.trackIdentifier, s.audioLevel || 0);
    }
    if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime;
  });
  const lossRate = received ? lost / (lost + received) : 0;
  // The SFU's rating of our links (both ways) when it has one; until then, what this
  // page measures of what it receives.
  const rated = state.me && state.quality.get(state.me.participant_id);
  const level = pc.connectionState !== "connected" ? "poor" : rated || (lossRate > 0.05 || (rtt ?? 0) > 0.4 ? "poor" : lossRate > 0.01 || (rtt ?? 0) > 0.15 ? "fair" : "good");
  $("quality").dataset.level = level;
  $("quality").textContent = `Connection: ${level}`;
  for (const entry of state.participants.values()) {
    const audio = entry.stream.getAudioTracks()[0];
    entry.li.classList.toggle("speaking", Boolean(audio && (levels.get(audio.id) || 0) > 0.05));
  }
}

setInterval(() => poll().catch(() => {}), 1000);
setInterval(() => state.signaling && state.signaling.send({ type: "ping" }), 10000);

$("login-form").addEventListener("submit", login);
$("join").addEventListener("click", join);
$("camera").addEventListener("change", () => openMedia().catch((e) => say(e.message)));
$("microphone").addEventListener("change", () => openMedia().catch((e) => say(e.message)));
$("mute").addEventListener("click", (e) => toggle(e.currentTarget, "Unmute microphone", "Mute microphone"));
$("camera-toggle").addEventListener("click", (e) => toggle(e.currentTarget, "Turn camera on", "Turn camera off"));
$("leave").addEventListener("click", leave);
$("rejoin").addEventListener("click", rejoin);
$("chat-form").addEventListener("submit", sendChat);
$("captions-toggle").addEventListener("click", () => setCaptions(!state.captionsOn));
$("end").addEventListener("click", () => endLesson().catch((error) => say(error.message)));
$("share").hidden = !(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
$("share").addEventListener("click", () => (state.screenTrack ? stopShare() : startShare()).catch((error) => say(error.message)));

if (state.token) {
  showLobby();
} else {
  $("login").hidden = false;
  $("email").focus();
}
