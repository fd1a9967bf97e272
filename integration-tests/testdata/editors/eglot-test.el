;;; eglot-test.el --- drives eglot against timon lsp  -*- lexical-binding: t; -*-

;; Run by integration-tests/editors_test.go as
;;   emacs --batch -q -l eglot-test.el
;; with lsp/editors/emacs on the load path.  It does what a user does:
;; opens main.go, starts eglot (M-x eglot), completes at the end of a line
;; with completion-at-point and saves; opens paper.tex, runs
;; timon-code-actions with point in a paragraph, picks the action by its
;; title and saves.  The Go test checks the files.  Any failure prints
;; "FAIL: why" and exits 1, after eglot's events buffer.

;;; Code:

(require 'cl-lib)
(require 'subr-x)

(defun timon-test-env (name)
  (let ((v (getenv name)))
    (when (or (null v) (string-empty-p v))
      (message "FAIL: %s is not set" name)
      (kill-emacs 1))
    v))

(add-to-list 'load-path (timon-test-env "TIMON_EMACS_DIR"))
(require 'eglot)
(require 'timon)

(defvar timon-test-project (timon-test-env "TIMON_TEST_PROJECT"))
(defvar timon-test-action (timon-test-env "TIMON_TEST_ACTION"))

(setq timon-program (timon-test-env "TIMON_BIN")
      timon-config (timon-test-env "TIMON_TEST_CONFIG")
      eglot-sync-connect t
      eglot-autoshutdown nil
      make-backup-files nil
      create-lockfiles nil)

;; Emacs 28 has no Go mode of its own: a user has go-mode from ELPA; this
;; stands in for it.
(unless (fboundp 'go-mode)
  (define-derived-mode go-mode prog-mode "Go")
  (add-to-list 'auto-mode-alist '("\\.go\\'" . go-mode)))

(timon-eglot-setup)

(defun timon-test-dump-events ()
  (dolist (server (ignore-errors (hash-table-values eglot--servers-by-project)))
    (dolist (s server)
      (when-let ((buf (ignore-errors (jsonrpc-events-buffer s))))
        (with-current-buffer buf
          (princ (format "--- eglot events (%s) ---\n%s\n" (buffer-name) (buffer-string))))))))

(defun timon-test-fail (fmt &rest args)
  (timon-test-dump-events)
  (message "FAIL: %s" (apply #'format fmt args))
  (kill-emacs 1))

(defun timon-test-wait (seconds what pred)
  (let ((deadline (+ (float-time) seconds)))
    (while (not (funcall pred))
      (when (> (float-time) deadline)
        (timon-test-fail "timed out after %ss waiting for %s" seconds what))
      (accept-process-output nil 0.05))))

(defun timon-test-open (name)
  (find-file (expand-file-name name timon-test-project))
  (unless (eglot-current-server)
    ;; What M-x eglot does, without its questions.
    (apply #'eglot (eglot--guess-contact)))
  (timon-test-wait 15 (format "eglot to manage %s" name)
                   (lambda () (and (eglot-current-server) eglot--managed-mode))))

(condition-case err
    (progn
      ;; Go: completion at the end of "func add(a, b int) int {".
      (timon-test-open "main.go")
      (goto-char (point-min))
      (unless (re-search-forward "^func add.*{$" nil t)
        (timon-test-fail "main.go has no func add line"))
      (end-of-line)
      (let ((before (buffer-string)))
        (completion-at-point)
        (when (equal before (buffer-string))
          (timon-test-fail "completion-at-point inserted nothing")))
      (princ (format "completion: %S\n" (buffer-string)))
      (save-buffer)

      ;; LaTeX: the rewrite action on the paragraph at point.
      (timon-test-open "paper.tex")
      (goto-char (point-min))
      (unless (search-forward "utilize" nil t)
        (timon-test-fail "paper.tex has no paragraph with \"utilize\""))
      (let ((before (buffer-string))
            (offered nil)
            (confirmed nil))
        ;; The user picks the action from the menu, then answers eglot's
        ;; "Server wants to edit paper.tex. Proceed?" with y.
        (cl-letf (((symbol-function 'y-or-n-p)
                   (lambda (prompt)
                     (setq confirmed prompt)
                     t))
                  ((symbol-function 'completing-read)
                   (lambda (_prompt collection &rest _)
                     (setq offered (mapcar (lambda (c) (if (consp c) (car c) c)) collection))
                     (if (member timon-test-action offered)
                         timon-test-action
                       (timon-test-fail "action %S not offered; offered: %S"
                                        timon-test-action offered)))))
          ;; As when invoked from the keyboard (M-x), not from a mouse menu.
          (let ((last-nonmenu-event ?\r))
            (call-interactively #'timon-code-actions))
          (princ (format "offered: %S\n" offered))
          (timon-test-wait 20 "the rewrite to be applied"
                           (lambda () (not (equal before (buffer-string))))))
        (princ (format "confirmed: %S\n" confirmed)))
      (save-buffer)
      (eglot-shutdown (eglot-current-server))
      (kill-emacs 0))
  (error (timon-test-fail "%s" (error-message-string err))))

;;; eglot-test.el ends here
