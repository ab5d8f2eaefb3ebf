// page-test.js URL PHOTO NOT-A-PHOTO OUTDIR — drives headless Chromium through the page of
// `headshot serve` (run by tests/serve_test.sh): a file that is not a photo gives an error in
// words; PHOTO gives a headshot and then the six looks; the chosen look is downloaded into
// OUTDIR/download/ and the page saved as OUTDIR/page.jpg (and narrow.jpg, 380 px wide).
// It also presses Tab from the top (the order of the controls). Prints one JSON line: what it saw.
"use strict";
const fs = require("fs");
const path = require("path");
const puppeteer = require("puppeteer-core");

const [url, photo, notPhoto, outDir] = process.argv.slice(2);
const origin = new URL(url).origin;
// Without these flags Chromium reaches for the network (updates, sync, field trials).
const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-extensions", "--no-default-browser-check"];

async function main() {
  const seen = { requests: [], foreign: [], console: [] };
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: flags,
    userDataDir: fs.mkdtempSync(path.join(outDir, "profile-")),
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const downloads = path.join(outDir, "download");
    fs.mkdirSync(downloads);
    const cdp = await page.createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
    page.on("request", (r) => {
      const u = r.url();
      seen.requests.push(u.startsWith("data:") ? "data:..." : u.replace(/token=[0-9a-f]+/, "token=T"));
      if (!u.startsWith(origin + "/") && !u.startsWith("data:") && !u.startsWith("blob:")) seen.foreign.push(u);
    });
    page.on("console", (m) => { if (m.type() === "error") seen.console.push(m.text()); });

    await page.goto(url, { waitUntil: "load" });
    // The keyboard reaches the photo picker and every control in reading order (the buttons
    // are disabled until there is a photo).
    const stops = [];
    for (let i = 0; i < 7; i++) {
      await page.keyboard.press("Tab");
      stops.push(await page.evaluate(() => document.activeElement.id || document.activeElement.tagName));
    }
    seen.tab_order = stops.join(" ");
    const input = await page.$("#file");
    await input.uploadFile(notPhoto);
    await page.waitForFunction(() => document.getElementById("error").textContent.length > 0, { timeout: 30000 });
    seen.error_text = await page.$eval("#error", (e) => e.textContent);

    await input.uploadFile(photo);
    await page.waitForFunction(() => document.getElementById("download").href.startsWith("data:image/"), { timeout: 180000 });
    seen.summary = await page.$eval("#summary", (e) => e.textContent);

    await page.click("#variants");
    await page.waitForFunction(() => document.querySelectorAll("#looks button").length === 6, { timeout: 180000 });
    await page.click("#looks button:nth-child(2)");   // studio-blue
    seen.download_name = await page.$eval("#download", (e) => e.download);
    await page.click("#download");
    const file = path.join(downloads, seen.download_name);
    for (let i = 0; i < 100 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 200));
    seen.downloaded = fs.existsSync(file) ? file : null;
    await page.screenshot({ path: path.join(outDir, "page.jpg"), type: "jpeg", quality: 80, fullPage: true });
    // A phone-sized window: nothing wider than the window (no sideways scrolling).
    await page.setViewport({ width: 380, height: 800 });
    seen.narrow_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.screenshot({ path: path.join(outDir, "narrow.jpg"), type: "jpeg", quality: 70 });
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
