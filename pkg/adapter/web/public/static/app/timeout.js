// The GOV.UK timeout warning for the order form (timeout.go). The page
// says until when the answers are kept and has a button to keep them
// longer; this script adds the warning: a modal dialog that opens
// data-warn seconds before the end, counts down, and keeps the answers
// without leaving the page. When the time runs out it goes to the page that
// says the answers were deleted. Without this script the page still works:
// its own button and the dialog's form are plain POSTs.
const root = document.querySelector('[data-module="app-timeout-warning"]')
const dialog = document.getElementById('timeout-dialog')

if (root && dialog && typeof dialog.showModal === 'function') {
  const keepForm = dialog.querySelector('form')
  const visible = document.getElementById('timeout-visible')
  const audible = document.getElementById('timeout-audible')
  const warnMs = Number(root.dataset.warn) * 1000
  // The words come from the page, in its language (data-* of
  // journey_parts.html's timeoutKeep).
  const t = root.dataset
  let deadline = Date.now() + Number(root.dataset.seconds) * 1000
  let warnTimer, endTimer, tickTimer, lastSpoken

  const words = (ms) => {
    const total = Math.max(0, Math.ceil(ms / 1000))
    const minutes = Math.floor(total / 60)
    const seconds = total % 60
    const parts = []
    if (minutes) parts.push(minutes + ' ' + (minutes === 1 ? t.minute : t.minutes))
    if (seconds || !minutes) parts.push(seconds + ' ' + (seconds === 1 ? t.second : t.secondsWord))
    return parts.join(' ')
  }

  // The visible text changes every second; screen readers hear it when
  // the dialog opens and then every 20 seconds, not every second.
  const tick = () => {
    const left = deadline - Date.now()
    const text = t.textIn + ' ' + words(left) + '.'
    visible.textContent = text
    if (lastSpoken === undefined || lastSpoken - left >= 20000) {
      audible.textContent = text
      lastSpoken = left
    }
  }

  const timedOut = () => { window.location.assign(t.timedOut) }

  const schedule = () => {
    clearTimeout(warnTimer)
    clearTimeout(endTimer)
    warnTimer = setTimeout(warn, Math.max(0, deadline - warnMs - Date.now()))
    endTimer = setTimeout(timedOut, Math.max(0, deadline - Date.now()))
  }

  const warn = () => {
    lastSpoken = undefined
    tick()
    tickTimer = setInterval(tick, 1000)
    dialog.showModal()
    document.getElementById('timeout-keep').focus()
  }

  const keep = async () => {
    try {
      const response = await fetch(keepForm.action, {
        method: 'POST',
        headers: { Accept: 'application/json' },
        body: new URLSearchParams(new FormData(keepForm)),
        credentials: 'same-origin'
      })
      if (!response.ok) {
        timedOut()
        return
      }
      const kept = await response.json()
      deadline = Date.now() + kept.seconds * 1000
      document.querySelectorAll('[data-timeout-until]').forEach((el) => { el.textContent = kept.until })
      clearInterval(tickTimer)
      dialog.close()
      schedule()
    } catch (e) {
      keepForm.submit() // the network failed: the plain POST says what happened
    }
  }

  keepForm.addEventListener('submit', (event) => {
    event.preventDefault()
    keep()
  })
  // Escape means "not now", as in GOV.UK's pattern: it keeps the answers.
  dialog.addEventListener('cancel', (event) => {
    event.preventDefault()
    keep()
  })
  schedule()
}
