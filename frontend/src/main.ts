import '@fontsource-variable/inter'
import './app.css'
import { mount } from 'svelte'
import App from './App.svelte'

const target = document.getElementById('app')!
// The committed dist/index.html carries a "not built yet" note for clean
// clones; the app replaces it.
target.replaceChildren()
mount(App, { target })
