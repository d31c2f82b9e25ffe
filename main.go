package main

import (
	"context"
	"embed"
	"log"
	"log/slog"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/menu"
	"github.com/wailsapp/wails/v2/pkg/menu/keys"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/hearth-pds/hearth/app"
)

//go:embed all:frontend/dist
var assets embed.FS

// wailsUI gives the app the window's events and native dialogs. For
// automated GUI tests (which cannot click native dialogs) the paths can be
// preset with HEARTH_E2E_SAVE_PATH, HEARTH_E2E_OPEN_PATH and
// HEARTH_E2E_DIR_PATH.
type wailsUI struct{ ctx context.Context }

func (w wailsUI) Emit(event string, data any) { runtime.EventsEmit(w.ctx, event, data) }

func (w wailsUI) SaveFile(title, name string) (string, error) {
	if p := os.Getenv("HEARTH_E2E_SAVE_PATH"); p != "" {
		return p, nil
	}
	return runtime.SaveFileDialog(w.ctx, runtime.SaveDialogOptions{Title: title, DefaultFilename: name})
}

// OpenDirectory asks for a folder (the backups' folder).
func (w wailsUI) OpenDirectory(title string) (string, error) {
	if p := os.Getenv("HEARTH_E2E_DIR_PATH"); p != "" {
		return p, nil
	}
	return runtime.OpenDirectoryDialog(w.ctx, runtime.OpenDialogOptions{Title: title, CanCreateDirectories: true})
}

func (w wailsUI) HideWindow() { runtime.WindowHide(w.ctx) }

func (w wailsUI) ShowWindow() {
	runtime.WindowShow(w.ctx)
	runtime.WindowUnminimise(w.ctx)
}

func (w wailsUI) Quit() { runtime.Quit(w.ctx) }

// appMenu is the app menu: show the window, and a Quit that really quits
// (it stops the PDS, also while publishing; closing the window asks
// instead). On macOS it is the application menu, with the Edit menu so
// copy and paste keep their shortcuts.
func appMenu(a *app.App) *menu.Menu {
	m := menu.NewMenu()
	h := m.AddSubmenu("Hearth")
	h.AddText("Show the window", nil, func(*menu.CallbackData) { app.ShowWindow(a) })
	h.AddSeparator()
	h.AddText("Quit Hearth (stops your PDS)", keys.CmdOrCtrl("q"), func(*menu.CallbackData) { app.Quit(a) })
	if goruntime.GOOS == "darwin" {
		m.Append(menu.EditMenu())
	}
	return m
}

func (w wailsUI) OpenFile(title, pattern string) (string, error) {
	if p := os.Getenv("HEARTH_E2E_OPEN_PATH"); p != "" {
		return p, nil
	}
	opts := runtime.OpenDialogOptions{Title: title}
	if pattern != "" {
		opts.Filters = []runtime.FileFilter{{DisplayName: pattern, Pattern: pattern}}
	}
	return runtime.OpenFileDialog(w.ctx, opts)
}

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := app.New(app.Config{DataDir: os.Getenv("HEARTH_DATA_DIR"), PLCURL: os.Getenv("HEARTH_PLC_URL"), Logger: logger,
		KeyStore: os.Getenv("HEARTH_KEY_STORE"), AllowPrivateNetwork: app.EnvFlag("HEARTH_ALLOW_PRIVATE_NETWORK"),
		UserDomains: strings.FieldsFunc(os.Getenv("HEARTH_USER_DOMAINS"), func(r rune) bool { return r == ',' })})
	err := wails.Run(&options.App{
		Title:     "Hearth",
		Width:     1240,
		Height:    820,
		MinWidth:  900,
		MinHeight: 600,
		AssetServer: &assetserver.Options{
			Assets: assets,
		},
		OnStartup: func(ctx context.Context) {
			// A failure (the data folder is in use by another Hearth
			// process, its data is damaged) is shown by the window's start
			// screen (App.StartError); no second engine is opened.
			if err := app.Start(ctx, a, wailsUI{ctx}); err != nil {
				logger.Error("could not start the PDS engine", "err", err)
			}
		},
		// Closing the window while publishing asks first (keep serving in
		// the background, or stop and quit): app.BeforeClose.
		OnBeforeClose: func(ctx context.Context) bool { return app.BeforeClose(a) },
		OnShutdown:    func(ctx context.Context) { app.Shutdown(ctx, a) },
		Menu:          appMenu(a),
		// Running hearth again on the same data folder shows this window
		// (also when it is hidden while serving in the background).
		SingleInstanceLock: &options.SingleInstanceLock{
			UniqueId:               app.InstanceID(a),
			OnSecondInstanceLaunch: func(options.SecondInstanceData) { app.ShowWindow(a) },
		},
		Bind: []interface{}{a},
	})
	if err != nil {
		log.Fatal(err)
	}
}
