// A short alert tone made with Web Audio (no sound file to ship); louder and lower for worse alerts.
let context: AudioContext | null = null;

export function beep(severity: string): void {
  try {
    context ??= new AudioContext();
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.frequency.value = severity === "critical" ? 440 : severity === "high" ? 660 : 880;
    gain.gain.setValueAtTime(severity === "critical" || severity === "high" ? 0.25 : 0.12, context.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + 0.4);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start();
    oscillator.stop(context.currentTime + 0.4);
  } catch {
    // no audio device or not allowed before a user gesture: the toast still shows
  }
}
