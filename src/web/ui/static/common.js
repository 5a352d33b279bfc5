// Every page: a page restored from the back-forward cache is fetched again, so that Back after
// signing out lands on the sign-in page instead of showing what was there.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) window.location.reload();
});
